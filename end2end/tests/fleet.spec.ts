import { Page } from "@playwright/test";
import { test, expect, signInLive } from "./fixtures";
import { OwnServer } from "./own-server";

// A fleet of 200 hosts on a server of this file's own (more hosts than one token may
// write to by default), each with a custom series beside the built-in ones, and a CPU
// figure of its own: fleet-001 is the idlest, fleet-200 the busiest. The server watches
// its own machine too, as `lookout-self`: one more host.
const HOSTS = 200;
const TOTAL = HOSTS + 1;
const name = (i: number) => `fleet-${String(i).padStart(3, "0")}`;
const cpu = (i: number) => Math.round(i * 4.5) / 10;
const queueDepth = (i: number) => i * 10 + 3;

test.describe.configure({ mode: "serial" });

const server = new OwnServer(30_000 + (process.pid % 10_000), ["--max-hosts-per-token", "1000", "--host-name", "lookout-self"]);
let token = "";

test.beforeAll(async () => {
  test.setTimeout(60_000);
  await server.start();
  token = server.token("fleet", "fleet-*");
  const now = Date.now();
  const hosts = Array.from({ length: HOSTS }, (_, k) => k + 1);
  for (let at = 0; at < hosts.length; at += 25) {
    await Promise.all(
      hosts.slice(at, at + 25).map((i) =>
        server.ingest(
          token,
          name(i),
          [2_000, 1_000, 0].flatMap((ago) => [
            { series: "cpu.total", ts: now - ago, value: cpu(i) },
            { series: "mem.used_pct", ts: now - ago, value: 30 + (i % 50) },
            { series: "app.queue_depth", ts: now - ago, value: queueDepth(i) },
          ]),
        ),
      ),
    );
  }
});

test.afterAll(async () => {
  await server.kill();
});

async function overview(page: Page, query = "") {
  await signInLive(page, server.base);
  if (query) await page.goto(`${server.base}/${query}`);
  await expect(page.getByTestId("host-count")).toHaveText(/hosts|shown/);
}

// The rows in view (spare row slots stay in the DOM, hidden).
const links = (page: Page) => page.locator(".fleet-body .row:not([hidden]) a.host-link");

test("the overview lists all 200 hosts, drawing only the rows in view", async ({ page }) => {
  await overview(page);
  await expect(page.getByTestId("host-count")).toHaveText(`${TOTAL} hosts`);
  await expect(links(page).first()).toHaveText(name(1));
  const drawn = await links(page).count();
  expect(drawn, "rows in the DOM").toBeGreaterThan(5);
  expect(drawn, "rows in the DOM").toBeLessThan(80);
  // Scrolling to the end brings the last host into view.
  await page.locator(".fleet-body").evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(page.getByRole("link", { name: "lookout-self", exact: true })).toBeVisible();
  await expect(page.getByRole("link", { name: name(HOSTS), exact: true })).toBeVisible();
  await page.getByLabel("Filter hosts").fill("fleet-");
  await expect(page.getByTestId("host-count")).toHaveText(`${HOSTS} of ${TOTAL} shown`);
  // Every visible row has a CPU trace on a canvas, not in SVG.
  await expect(page.locator(".fleet-body .row:not([hidden]) canvas").first()).toBeVisible();
  await expect(page.locator(".fleet-body svg")).toHaveCount(0);
  // The update of each frame is timed for benchmarks.
  await expect
    .poll(() => page.evaluate(() => performance.getEntriesByName("lookout:overview-update").length))
    .toBeGreaterThan(0);
});

test("the filter narrows the hosts to one, and the URL keeps it", async ({ page }) => {
  await overview(page);
  await page.getByLabel("Filter hosts").fill("fleet-137");
  await expect(page.getByTestId("host-count")).toHaveText(`1 of ${TOTAL} shown`);
  await expect(links(page)).toHaveCount(1);
  await expect(links(page)).toHaveText(name(137));
  await expect(page).toHaveURL(/[?&]q=fleet-137/);

  await page.reload();
  await expect(page.getByTestId("host-count")).toHaveText(`1 of ${TOTAL} shown`);
  await expect(page.getByLabel("Filter hosts")).toHaveValue("fleet-137");

  await page.getByLabel("Filter hosts").fill("no-such-host");
  await expect(page.getByTestId("host-count")).toHaveText(`0 of ${TOTAL} shown`);
  await expect(page.getByText("No host matches.")).toBeVisible();
});

test("sorting by CPU orders the hosts by their CPU figure, both ways", async ({ page }) => {
  // Only the fleet: the server's own CPU figure is whatever this machine is doing.
  await overview(page, "?q=fleet-");
  const header = page.getByRole("columnheader", { name: "CPU", exact: true });
  await header.getByRole("button").click();
  await expect(header).toHaveAttribute("aria-sort", "descending");
  await expect(page).toHaveURL(/[?&]q=fleet-&sort=cpu&dir=desc$/);
  await expect(links(page).nth(0)).toHaveText(name(200));
  await expect(links(page).nth(1)).toHaveText(name(199));
  await expect(links(page).nth(2)).toHaveText(name(198));
  await expect(page.locator(".fleet-body .row:not([hidden]) .cell.cpu").first()).toHaveText(`${cpu(200).toFixed(1)} %`);

  await header.getByRole("button").click();
  await expect(header).toHaveAttribute("aria-sort", "ascending");
  await expect(links(page).nth(0)).toHaveText(name(1));
  await expect(links(page).nth(1)).toHaveText(name(2));

  // A link to the sorted view shows it sorted.
  await page.goto(`${server.base}/?sort=cpu&dir=desc&q=fleet-1`);
  await expect(page.getByRole("columnheader", { name: "CPU", exact: true })).toHaveAttribute("aria-sort", "descending");
  await expect(links(page).nth(0)).toHaveText(name(199));
});

test("a click opens the host page, which charts the custom series with axes and shows values on hover", async ({ page }) => {
  await overview(page, "?q=fleet-042");
  await page.getByRole("link", { name: name(42), exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/hosts/${name(42)}$`));
  await expect(page.getByRole("heading", { name: name(42), level: 1 })).toBeVisible();
  for (const group of ["cpu", "mem", "app"]) {
    await expect(page.getByRole("heading", { name: group, level: 2, exact: true })).toBeVisible();
  }

  const chart = page.locator('[data-series="app.queue_depth"]');
  await expect(chart.locator("path.line")).toHaveAttribute("d", /^M/);
  await expect(page.getByTestId("value-app.queue_depth")).toHaveText(String(queueDepth(42)));
  // A time axis and a value axis, with labels.
  await expect(chart.locator(".x-axis text").first()).toHaveText(/^\d\d:\d\d/);
  expect(await chart.locator(".y-axis text").count()).toBeGreaterThanOrEqual(2);
  await expect(page.locator('[data-series="cpu.total"] .y-axis text').last()).toHaveText(/ %$/);

  // Hovering near the newest points shows the exact time and value, and a crosshair on
  // every chart at the same time.
  const svg = chart.locator("svg");
  await svg.scrollIntoViewIfNeeded();
  const box = (await svg.boundingBox())!;
  await svg.hover({ position: { x: box.width - 14, y: box.height / 2 } });
  const tooltip = chart.getByTestId("chart-tooltip");
  await expect(tooltip).toBeVisible();
  await expect(tooltip).toContainText(String(queueDepth(42)));
  await expect(tooltip.locator("time")).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  await expect(page.locator('[data-series="cpu.total"] line.crosshair')).toHaveAttribute("visibility", "visible");

  // A past range is in the URL and pressed.
  await page.getByRole("button", { name: "1h", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/hosts/${name(42)}\\?range=1h$`));
  await expect(page.getByRole("button", { name: "1h", exact: true })).toHaveAttribute("aria-pressed", "true");
  await expect(page.locator('[data-series="app.queue_depth"] path.line')).toHaveAttribute("d", /^M/);
});

test.describe("an unknown host", () => {
  test.use({ expectedStatuses: [404] });

  test("answers 404 with a page that says so", async ({ page }) => {
    await signInLive(page, server.base);
    const res = await page.goto(`${server.base}/hosts/no-such-host`);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Unknown host" })).toBeVisible();
  });
});

test("24h shows points ingested before a server restart", async ({ page }) => {
  test.setTimeout(60_000);
  // Minutes in the past (inside the server's clock-skew window), a minute apart.
  const now = Date.now();
  const past = [240_000, 180_000, 120_000, 60_000].map((ago, k) => ({
    series: "app.queue_depth",
    ts: now - ago,
    value: 1_000 + k,
  }));
  await server.ingest(token, "fleet-restart", past);
  // The store writes once a second: after kill -9 at most the last second or two is lost.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  await server.kill();
  await server.start();

  await signInLive(page, server.base);
  const res = await page.goto(`${server.base}/hosts/fleet-restart?range=24h`);
  expect(res?.status()).toBe(200);
  await expect(page.getByRole("button", { name: "24h", exact: true })).toHaveAttribute("aria-pressed", "true");
  const chart = page.locator('[data-series="app.queue_depth"]');
  await expect(chart.locator("path.line")).toHaveAttribute("d", /^M/);
  // The newest of them is the last value.
  await expect(page.getByTestId("value-app.queue_depth")).toHaveText(/^100\d$/);
});
