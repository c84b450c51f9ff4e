import { execFileSync, spawn, ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, signInLive } from "./fixtures";
import { OwnServer } from "./own-server";

// Two instances on one PostgreSQL database and one Redis, behind nginx running the
// documented configuration (docs/nginx/lookout.conf, only its ports changed). SIGTERM on
// the instance that holds the page's socket: the page says reconnecting, then live on the
// other instance within 5 s, still signed in.
const POSTGRES = process.env.LOOKOUT_TEST_POSTGRES;
const REDIS = process.env.LOOKOUT_TEST_REDIS;
const NGINX = "/usr/sbin/nginx";

const base = 60_000 + (process.pid % 1_000) * 4;
const [portA, portB, portProxy, portApp] = [base, base + 1, base + 2, base + 3];
const proxy = `http://127.0.0.1:${portProxy}`;

const database = `lookout_e2e_${process.pid}_${Date.now()}`;

/** A new database on the test server; its URL. */
function freshDatabase(): string {
  const name = database;
  execFileSync("psql", [POSTGRES!, "-qc", `CREATE DATABASE ${name}`]);
  const url = new URL(POSTGRES!);
  url.pathname = `/${name}`;
  return url.toString();
}

function startNginx(): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), "lookout-nginx-"));
  const site = readFileSync("../docs/nginx/lookout.conf", "utf8")
    .replaceAll("127.0.0.1:3001", `127.0.0.1:${portA}`)
    .replaceAll("127.0.0.1:3002", `127.0.0.1:${portB}`)
    .replaceAll("listen 8000;", `listen 127.0.0.1:${portApp};`)
    .replaceAll("listen 80;", `listen 127.0.0.1:${portProxy};`)
    .replaceAll("lookout.example.com", `127.0.0.1:${portProxy}`);
  writeFileSync(join(dir, "lookout.conf"), site);
  const user = process.getuid?.() === 0 ? "user root;" : "";
  writeFileSync(
    join(dir, "nginx.conf"),
    `${user} daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
     events { worker_connections 512; }
     http { access_log off; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
            fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
            include ${dir}/lookout.conf; }`,
  );
  return spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "inherit"] });
}

let metricsToken = "";

/** How many live sockets an instance holds, from its own metrics (asked by its address). */
async function openSockets(server: OwnServer): Promise<number> {
  const text = await fetch(`${server.base}/metrics`, {
    headers: { Authorization: `Bearer ${metricsToken}` },
    signal: AbortSignal.timeout(2_000),
  }).then((r) => r.text());
  const line = text.split("\n").find((l) => l.startsWith("lookout_open_sockets "));
  return Number(line?.split(" ")[1] ?? "NaN");
}

test.describe("two instances behind nginx", () => {
  // The page's reconnects after SIGTERM are expected to fail once or twice.
  test.use({
    expectedConsole:
      /WebSocket connection to .* failed|net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE)|status of 502/,
  });
  let a: OwnServer, b: OwnServer, nginx: ChildProcess;

  test.beforeAll(async () => {
    // The test command sets both (and starts PostgreSQL and Redis when they are down).
    if (!POSTGRES || !REDIS) {
      throw new Error("set LOOKOUT_TEST_POSTGRES=postgres://… and LOOKOUT_TEST_REDIS=redis://… (.ci/test does)");
    }
    const url = freshDatabase();
    const flags = [
      "--redis-url", REDIS!, "--redis-prefix", `lookout-e2e-${process.pid}`,
      "--public-origin", proxy, "--trusted-proxy", "127.0.0.1", "--history", "off",
    ];
    a = new OwnServer(portA, [...flags, "--host-name", "instance-a"], false, { database: url });
    b = new OwnServer(portB, [...flags, "--host-name", "instance-b"], false, { database: url });
    await a.start();
    await b.start();
    metricsToken = a.cli(["token", "create", "prometheus", "--scope", "read"]).trim().split("\n").pop()!.trim();
    nginx = startNginx();
    await expect
      .poll(() => fetch(`${proxy}/healthz`).then((r) => r.status).catch(() => 0), { timeout: 10_000 })
      .toBe(200);
  });

  test.afterAll(async () => {
    nginx?.kill("SIGTERM");
    await a?.kill();
    await b?.kill();
    if (POSTGRES) execFileSync("psql", [POSTGRES, "-qc", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]);
  });

  test("SIGTERM on the instance holding the socket: reconnecting, then live on the other within 5 s", async ({ page }) => {
    await signInLive(page, proxy);
    // Every change of the connection state, as the page shows it, with its time.
    await page.evaluate(() => {
      const w = window as unknown as { states: [string, number][] };
      w.states = [];
      const el = document.querySelector("[data-connection]")!;
      new MutationObserver(() => w.states.push([el.getAttribute("data-connection")!, performance.now()])).observe(el, {
        attributes: true,
        attributeFilter: ["data-connection"],
      });
    });
    await expect.poll(async () => (await openSockets(a)) + (await openSockets(b))).toBe(1);
    const [holder, other] = (await openSockets(a)) === 1 ? [a, b] : [b, a];

    const sent = await page.evaluate(() => performance.now());
    await holder.terminate();
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live", { timeout: 5_000 });
    const states = await page.evaluate(() => (window as unknown as { states: [string, number][] }).states);
    const reconnecting = states.findIndex(([s]) => s === "reconnecting");
    expect(reconnecting, `states: ${JSON.stringify(states)}`).toBeGreaterThanOrEqual(0);
    const live = states.findIndex(([s], i) => i > reconnecting && s === "live");
    expect(live, `states: ${JSON.stringify(states)}`).toBeGreaterThan(reconnecting);
    const took = states[live][1] - sent;
    console.log(`SIGTERM to live on the other instance: ${took.toFixed(0)} ms`);
    expect(took).toBeLessThan(5_000);
    expect(states.some(([s]) => s === "signed-out"), "never signed out").toBe(false);

    // Still signed in, on the page it was on, now served by the other instance.
    expect(new URL(page.url()).pathname).not.toBe("/login");
    await expect(page.getByTestId("signed-in-user")).toHaveText("admin");
    expect(await openSockets(other)).toBe(1);
  });
});
