// The browser's time per overview update, in Chromium, against a running Lookout that a
// fleet is feeding (bench/history.sh browser starts both):
//   node bench/overview_browser.mjs BASE_URL PASSWORD SECONDS [CPU_PID_FILE]
// Signs in through the form as admin, opens the overview (/), waits for the first full
// frame to be drawn, clears the measures, then waits SECONDS and reads back every
// `performance.measure` named `lookout:overview-update` (the page takes one per frame, from
// its arrival to the end of the re-render it causes), plus long tasks (over 50 ms) seen by
// a PerformanceObserver. Headless Chromium with the page visible (no background throttling).
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("playwright");

const [base, password, seconds = "30"] = process.argv.slice(2);
if (!base || !password) {
  console.error("usage: node bench/overview_browser.mjs BASE_URL PASSWORD [SECONDS]");
  process.exit(2);
}
if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(base)) {
  console.error("loopback only");
  process.exit(2);
}

const browser = await chromium.launch({
  // The system's Chromium (browsers are not downloaded here): CHROMIUM_PATH, or the first
  // `chromium` on PATH.
  executablePath:
    process.env.CHROMIUM_PATH ??
    (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "chromium")).find((p) => existsSync(p)),
  args: ["--disable-background-timer-throttling", "--disable-renderer-backgrounding"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/login`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 });
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 30_000 });
  if (new URL(page.url()).pathname !== "/") await page.goto(`${base}/`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 });
  // The first (full) frame and a few ticks, then a clean slate.
  await page.waitForFunction(
    (name) => performance.getEntriesByName(name).length >= 3,
    "lookout:overview-update",
    { timeout: 60_000 },
  );
  const rowsShown = await page.evaluate(() => document.querySelectorAll("[role=row].row:not(.head):not([hidden])").length);
  await page.evaluate(() => {
    performance.clearMeasures("lookout:overview-update");
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push(e.duration);
    }).observe({ type: "longtask" });
  });
  await page.waitForTimeout(Number(seconds) * 1000);
  const { durations, longTasks, hosts } = await page.evaluate(() => ({
    durations: performance.getEntriesByName("lookout:overview-update").map((e) => e.duration),
    longTasks: window.__longTasks,
    hosts: document.body.innerText.match(/(\d[\d,]*)\s+hosts?/)?.[1] ?? "?",
  }));
  durations.sort((a, b) => a - b);
  const q = (p) => durations[Math.min(durations.length - 1, Math.max(0, Math.ceil(p * durations.length) - 1))] ?? NaN;
  const mean = durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length);
  const f = (x) => `${x.toFixed(1)} ms`;
  console.log(`chromium: ${browser.version()}; page errors: ${errors.length ? errors.join(" | ") : "none"}`);
  console.log(`hosts in the overview (page text): ${hosts}; host rows in the DOM (virtualised): ${rowsShown}`);
  console.log("| updates | updates/s | mean | p50 | p99 | max | long tasks (> 50 ms) |");
  console.log("|---|---|---|---|---|---|---|");
  console.log(
    `| ${durations.length} | ${(durations.length / Number(seconds)).toFixed(2)} | ${f(mean)} | ${f(q(0.5))} | ${f(q(0.99))} | ${f(q(1))} | ${longTasks.length}${longTasks.length ? ` (longest ${f(Math.max(...longTasks))})` : ""} |`,
  );
} finally {
  await browser.close();
}
