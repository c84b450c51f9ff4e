import { test as base, expect, Page } from "@playwright/test";

export const ADMIN = "admin";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password";

// Every test fails on a page error or a console error: CSP violations, failed loads and
// hydration panics all show up there. Chromium also logs each 4xx answer to fetch; a test
// that expects some (a refused sign-in is a 401) names those statuses in `expectedStatuses`.
// A test that takes the server away on purpose lists the resulting messages in
// `expectedConsole`.
export const test = base.extend<{
  consoleErrors: string[];
  expectedStatuses: number[];
  expectedConsole: RegExp | undefined;
}>({
  expectedStatuses: [[], { option: true }],
  expectedConsole: [undefined, { option: true }],
  consoleErrors: [
    async ({ page, expectedStatuses, expectedConsole }, use) => {
      const errors: string[] = [];
      const expected = expectedStatuses.map(
        (s) => `Failed to load resource: the server responded with a status of ${s} `,
      );
      page.on("pageerror", (e) => errors.push(`pageerror: ${e}`));
      page.on("console", (m) => {
        if (m.type() !== "error") return;
        if (expected.some((prefix) => m.text().startsWith(prefix))) return;
        if (expectedConsole?.test(m.text())) return;
        errors.push(`console: ${m.text()}`);
      });
      await use(errors);
      expect(errors, "no console or page errors").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM has hydrated the page (the app marks <body>). */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export async function signIn(page: Page, username: string, password: string) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Signs in through the form and waits for the live stream. */
export async function signInLive(page: Page, baseURL?: string) {
  await page.goto(`${baseURL ?? ""}/login`);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
  await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live");
}
