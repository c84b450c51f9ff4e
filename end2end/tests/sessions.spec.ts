import { Page } from "@playwright/test";
import { test, expect, hydrated, signInLive } from "./fixtures";

/** Opens the sessions page, ending every other session of the admin first (earlier tests
 * leave theirs), so that the table holds this browser's session alone. */
async function onlyThisSession(page: Page) {
  await page.goto("/settings/sessions");
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out everywhere else" }).click();
  await expect(page.getByRole("status")).toContainText("Signed out of");
  await expect(page.locator("table.sessions tbody tr")).toHaveCount(1);
}

// Two browsers (two contexts: separate cookies), both signed in as the admin. From the
// sessions page of one, the other session is revoked: its live dashboard flips to
// signed-out at once.
test("revoking the other session from the sessions page signs its dashboard out", async ({ page, browser }) => {
  const otherContext = await browser.newContext();
  const other = await otherContext.newPage();
  try {
    await signInLive(page);
    await onlyThisSession(page);
    await signInLive(other);

    await page.goto("/");
    await hydrated(page);
    await page.getByRole("link", { name: "Sessions" }).click();
    await expect(page).toHaveURL(/\/settings\/sessions$/);
    await expect(page.getByRole("heading", { name: "Your sessions" })).toBeVisible();
    const rows = page.locator("table.sessions tbody tr");
    await expect(rows).toHaveCount(2);
    const mine = page.locator('tr[data-current="true"]');
    await expect(mine).toContainText("This device");
    await expect(mine.getByRole("button", { name: "Revoke" })).toHaveCount(0);

    const started = Date.now();
    await page.locator('tr[data-current="false"]').getByRole("button", { name: "Revoke" }).click();
    await expect(other.locator("[data-connection]")).toHaveAttribute("data-connection", "signed-out", {
      timeout: 3_000,
    });
    console.log(`the other dashboard read signed-out ${Date.now() - started} ms after the click`);
    await expect(rows).toHaveCount(1);
  } finally {
    await otherContext.close();
  }
});

test("sign out everywhere else keeps this browser signed in", async ({ page, browser }) => {
  const otherContext = await browser.newContext();
  const other = await otherContext.newPage();
  try {
    await signInLive(page);
    await onlyThisSession(page);
    await signInLive(other);
    await page.reload();
    await hydrated(page);
    await expect(page.locator("table.sessions tbody tr")).toHaveCount(2);
    await page.getByRole("button", { name: "Sign out everywhere else" }).click();
    await expect(page.getByRole("status")).toHaveText("Signed out of 1 other session.");
    await expect(page.locator("table.sessions tbody tr")).toHaveCount(1);
    await expect(other.locator("[data-connection]")).toHaveAttribute("data-connection", "signed-out", {
      timeout: 3_000,
    });
    await page.goto("/");
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live");
  } finally {
    await otherContext.close();
  }
});
