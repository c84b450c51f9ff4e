// Takes the README's screenshots from a running Lookout:
//   BASE_URL=http://127.0.0.1:3000 E2E_ADMIN_PASSWORD=… [SEED_TOKEN=lk_…] [INVITE_URL=…]
//     [INVITE_GROUP=ops] node screenshots.mjs
// With SEED_TOKEN (an ingest token for `fleet-*` on a server started with
// `--max-hosts-per-token 1000`), it first pushes a minute of samples for 200 hosts, so the
// overview shows a fleet and the host page a custom series.
import { chromium } from "@playwright/test";

const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const out = process.env.OUT_DIR ?? "../docs/screenshots";
const seedToken = process.env.SEED_TOKEN;
const HOSTS = 200;
const name = (i) => `fleet-${String(i).padStart(3, "0")}`;

/** `seconds` of one-second samples for host `i`, ending now: each host with its own level and rhythm. */
function samplesOf(i, now, seconds) {
  const samples = [];
  const level = 5 + ((i * 37) % 80);
  for (let back = seconds; back >= 0; back--) {
    const ts = now - back * 1000;
    // Of the clock, not of the batch: successive batches continue the same curves.
    const s = Math.round(ts / 1000) % 100_000;
    const wave = Math.sin((s + i) / 6) * 8 + Math.sin((s * i) / 17) * 3;
    const cpu = Math.max(0, Math.min(100, level + wave));
    samples.push(
      { series: "cpu.total", ts, value: Math.round(cpu * 10) / 10 },
      { series: "mem.used_pct", ts, value: 20 + ((i * 13) % 70) + Math.sin(s / 20) },
      { series: "load.1", ts, value: Math.round(cpu / 25 * 100) / 100 },
      { series: "net.rx", ts, value: Math.round((i % 7 + 1) * 150_000 * (1 + Math.sin(s / 5) / 3)) },
      { series: "net.tx", ts, value: Math.round((i % 5 + 1) * 40_000 * (1 + Math.cos(s / 7) / 3)) },
      { series: "disk.read", ts, value: Math.round((i % 3) * 800_000 * Math.abs(Math.sin(s / 9))) },
      { series: "disk.write", ts, value: Math.round((i % 4 + 1) * 300_000 * Math.abs(Math.cos(s / 11))) },
      { series: "app.queue_depth", ts, value: Math.round(20 + 15 * Math.sin((s + i) / 8) + (s % 13)) },
    );
  }
  return samples;
}

async function seed(seconds = 60) {
  const now = Date.now();
  for (let at = 1; at <= HOSTS; at += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, HOSTS - at + 1) }, (_, k) => at + k).map(async (i) => {
        const res = await fetch(`${base}/api/v1/ingest`, {
          method: "POST",
          headers: { Authorization: `Bearer ${seedToken}`, "Content-Type": "application/json" },
          body: JSON.stringify({ host: name(i), samples: samplesOf(i, now, seconds) }),
        });
        if (res.status !== 202) throw new Error(`ingest ${name(i)}: ${res.status} ${await res.text()}`);
      }),
    );
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
for (const scheme of ["light", "dark"]) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
  await page.goto(`${base}/login`);
  await page.locator("body[data-hydrated]").waitFor();
  await page.screenshot({ path: `${out}/sign-in-${scheme}.png` });
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('[data-connection="live"]').waitFor();
  // Fresh samples for each shot, pushed while the page watches, so every host is online
  // with a full trace.
  if (seedToken) {
    await seed();
    // Then one tick a second for a while, as agents send, so the traces fill.
    for (let tick = 0; tick < 30; tick++) {
      const started = Date.now();
      await seed(1);
      await page.waitForTimeout(Math.max(0, 1000 - (Date.now() - started)));
    }
  }
  await page.locator("a.host-link").first().waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${out}/overview-${scheme}.png` });

  // Sorted by CPU, busiest first (the URL keeps the view).
  await page.getByRole("columnheader", { name: "CPU", exact: true }).getByRole("button").click();
  await page.waitForURL(/sort=cpu&dir=desc/);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${out}/overview-by-cpu-${scheme}.png` });

  const host = seedToken ? name(42) : await page.locator("a.host-link").first().textContent();
  await page.goto(`${base}/hosts/${host}`);
  await page.locator('[data-connection="live"]').waitFor();
  await page.waitForTimeout(3000);
  // The shared crosshair and a tooltip, as when someone points at a chart.
  const chart = page.locator("figure.chart svg").first();
  const box = await chart.boundingBox();
  if (box) await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/host-${scheme}.png`, fullPage: true });

  // Settings: where one is signed in, and the audit log.
  await page.goto(`${base}/settings/sessions`);
  await page.locator("body[data-hydrated]").waitFor();
  await page.screenshot({ path: `${out}/sessions-${scheme}.png`, fullPage: true });
  await page.goto(`${base}/settings/audit`);
  await page.locator("body[data-hydrated]").waitFor();
  await page.screenshot({ path: `${out}/audit-${scheme}.png` });

  // The admin pages: users (and the two-factor policy), groups (members, hosts, invites),
  // tokens; on the groups page, an invite just made, with its QR code.
  for (const admin of ["users", "groups", "tokens"]) {
    await page.goto(`${base}/admin/${admin}`);
    await page.locator("body[data-hydrated]").waitFor();
    if (admin === "groups" && process.env.INVITE_GROUP) {
      await page.locator(`section[data-group="${process.env.INVITE_GROUP}"]`)
        .getByRole("button", { name: "Create invite" }).click();
      await page.locator(".new-invite").waitFor();
    }
    await page.screenshot({ path: `${out}/admin-${admin}-${scheme}.png`, fullPage: true });
  }
  // Setting up a second factor: the QR code and the key (not confirmed, so nothing changes).
  await page.goto(`${base}/settings/sessions`);
  await page.locator("body[data-hydrated]").waitFor();
  await page.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  await page.getByTestId("totp-secret").waitFor();
  await page.locator(".two-factor").screenshot({ path: `${out}/two-factor-setup-${scheme}.png` });
  await page.close();

  // An invite, as the person who receives the link sees it.
  if (process.env.INVITE_URL) {
    const visitor = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
    await visitor.goto(process.env.INVITE_URL);
    await visitor.locator("body[data-hydrated]").waitFor();
    await visitor.screenshot({ path: `${out}/invite-${scheme}.png` });
    await visitor.close();
  }
}
await browser.close();
