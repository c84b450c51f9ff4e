import { request as apiRequest } from "@playwright/test";
import { test, expect, hydrated, signIn, ADMIN, ADMIN_PASSWORD } from "./fixtures";

test("sign in through the form, see the dashboard, sign out, and the old cookie is dead", async ({ page, baseURL }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);

  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
  await expect(page.getByRole("heading", { name: "Hosts", level: 1 })).toBeVisible();
  await expect(page.getByLabel("Filter hosts")).toBeVisible();

  const cookie = (await page.context().cookies()).find((c) => c.name === "lookout_session");
  expect(cookie, "session cookie").toBeTruthy();
  expect(cookie!.httpOnly).toBe(true);
  expect(cookie!.sameSite).toBe("Lax");

  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();

  // Replaying the old cookie from outside the browser no longer opens the dashboard.
  const outsider = await apiRequest.newContext({
    baseURL,
    extraHTTPHeaders: { Cookie: `lookout_session=${cookie!.value}` },
  });
  const res = await outsider.get("/", { maxRedirects: 0 });
  expect(res.status()).toBe(303);
  expect(res.headers()["location"]).toBe("/login?next=%2F");
  await outsider.dispose();

  // And in the browser, `/` goes back to the sign-in page.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
});

test.describe("refused sign-ins", () => {
  // A refused sign-in is a 401, which Chromium logs as a failed resource load.
  test.use({ expectedStatuses: [401] });

  test("a wrong password and an unknown user show the same generic message", async ({ page }) => {
    await page.goto("/login");
    await hydrated(page);
    await signIn(page, ADMIN, "not-the-password");
    await expect(page.getByRole("alert")).toHaveText("Invalid username or password.");
    await expect(page).toHaveURL(/\/login/);

    await page.goto("/login");
    await hydrated(page);
    await signIn(page, "nobody-at-all", "not-the-password");
    await expect(page.getByRole("alert")).toHaveText("Invalid username or password.");
  });
});

test("sign-in returns to the page first asked for", async ({ page }) => {
  await page.goto("/?from=bookmark");
  await expect(page).toHaveURL(/\/login\?next=%2F%3Ffrom%3Dbookmark$/);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/\?from=bookmark$/);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
});
