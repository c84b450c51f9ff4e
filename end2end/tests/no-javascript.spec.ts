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
