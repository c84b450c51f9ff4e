import { test, expect, hydrated, signInLive } from "./fixtures";

test("the audit log lists sign-ins with user and action, and filters by action", async ({ page }) => {
  await signInLive(page);
  await page.getByRole("link", { name: "Audit" }).click();
  await expect(page).toHaveURL(/\/settings\/audit$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  const first = page.locator("table.audit tbody tr").first();
  await expect(first).toContainText("login.success");
  await expect(first).toContainText("admin");

  await page.getByLabel("Action").selectOption("logout");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/event=logout/);
  const actions = page.locator("table.audit tbody tr td:nth-child(3)");
  for (const text of await actions.allTextContents()) {
    expect(text).toBe("logout");
  }
});
