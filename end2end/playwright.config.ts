import { defineConfig, devices } from "@playwright/test";

// Browsers cannot be downloaded here: Debian's chromium is used (apt-get install chromium),
// and npm packages are installed with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PORT = Number(process.env.E2E_PORT ?? 3100);
// Set BASE_URL to test a server you started yourself; otherwise a fresh Lookout is
// started on an empty database for the run.
const BASE_URL = process.env.BASE_URL ?? `http://127.0.0.1:${PORT}`;
const BIN = process.env.LOOKOUT_BIN ?? "../target/release/lookout";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password";

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: BASE_URL,
    trace: "off",
  },
  webServer: process.env.BASE_URL
    ? undefined
    : {
        command: `rm -rf .e2e && mkdir -p .e2e && exec ${BIN} serve --addr 127.0.0.1:${PORT} --database-url sqlite://.e2e/lookout.db`,
        env: { LOOKOUT_ADMIN_PASSWORD: ADMIN_PASSWORD, RUST_LOG: "warn" },
        url: `${BASE_URL}/healthz`,
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: "pipe",
        stderr: "pipe",
      },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: CHROMIUM,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
