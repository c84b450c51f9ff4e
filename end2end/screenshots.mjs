// Takes the README's screenshots from a running Lookout:
//   BASE_URL=http://127.0.0.1:3000 E2E_ADMIN_PASSWORD=… node screenshots.mjs
import { chromium } from "@playwright/test";

const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const out = process.env.OUT_DIR ?? "../docs/screenshots";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
for (const scheme of ["light", "dark"]) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, colorScheme: scheme });
  await page.goto(`${base}/login`);
  await page.locator("body[data-hydrated]").waitFor();
  await page.screenshot({ path: `${out}/sign-in-${scheme}.png` });
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("host-name").waitFor();
  // Let the live charts fill for a few ticks.
  await page.locator('[data-connection="live"]').waitFor();
  await page.waitForTimeout(8000);
  await page.screenshot({ path: `${out}/dashboard-${scheme}.png` });
  await page.close();
}
await browser.close();
