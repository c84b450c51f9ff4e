import { Page } from "@playwright/test";
import { test, expect, signIn, ADMIN, ADMIN_PASSWORD } from "./fixtures";

// Before the WASM arrives (or without it) the sign-in form is a plain HTML form post.
test.use({ javaScriptEnabled: false });

test("the form signs in and out without JavaScript", async ({ page }) => {
  await page.goto("/login");
  await signIn(page, ADMIN, "not-the-password");
  await expect(page.getByRole("alert")).toHaveText("Invalid username or password.");

  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
});

test("repeated failed sign-ins without JavaScript end in the throttled message", async ({ page }) => {
  // Not admin: the server is shared by every spec, and admin must stay unlocked from here.
  // A name of this run's own, so a server reused through BASE_URL starts it unthrottled.
  const mallory = `mallory-${Date.now().toString(36)}`;
  await page.goto("/login");
  // Five misses (the default limit per account and address), each answered as usual, from
  // the page each answer lands on, as a person retrying would.
  for (let miss = 1; miss <= 5; miss++) {
    await postAndLand(page, mallory, "not-the-password");
    await expect(page.getByRole("alert"), `miss ${miss}`).toHaveText("Invalid username or password.");
  }
  await postAndLand(page, mallory, "not-the-password");
  await expect(page.getByRole("alert")).toHaveText(/^Too many failed sign-ins\. Try again in \d+ seconds\.$/);
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
});

/** Posts the form and waits for the page its answer lands on (the sign-in page again). */
async function postAndLand(page: Page, username: string, password: string) {
  const landed = page.waitForEvent("framenavigated", (frame) => frame === page.mainFrame());
  await signIn(page, username, password);
  await landed;
  await page.waitForLoadState();
  await expect(page).toHaveURL(/\/login/);
}
