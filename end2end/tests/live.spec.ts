import { spawn, ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, signInLive, ADMIN_PASSWORD } from "./fixtures";

test("the charts move every second while the connection reads live", async ({ page }) => {
  await signInLive(page);
  const cpu = page.locator('[data-series="cpu.total"] path.line');
  await expect(cpu).toHaveAttribute("d", /^M/);
  const started = Date.now();
  const seen = [await cpu.getAttribute("d")];
  for (let change = 0; change < 2; change++) {
    await expect.poll(async () => cpu.getAttribute("d"), { timeout: 5_000 }).not.toBe(seen[seen.length - 1]);
    seen.push(await cpu.getAttribute("d"));
  }
  expect(Date.now() - started).toBeLessThan(5_000);
  await expect(page.getByTestId("value-cpu.total")).toHaveText(/^\d+\.\d %$/);
  await expect(page.getByTestId("value-mem.used_pct")).toHaveText(/^\d+\.\d %$/);
  await expect(page.getByTestId("value-net.rx")).toHaveText(/\/s$/);
  await expect(page.locator("[data-connection]")).toHaveText("Live");
});

test("signing out in another tab turns this one to signed-out, then sign-in", async ({ page, context }) => {
  await signInLive(page);
  const other = await context.newPage();
  await other.goto("/");
  await expect(other.locator("body")).toHaveAttribute("data-hydrated", "true");
  await other.getByRole("button", { name: "Sign out" }).click();
  await expect(other).toHaveURL(/\/login/);

  await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "signed-out", { timeout: 3_000 });
  await expect(page.locator("[data-connection]")).toContainText("Signed out");
  await expect(page).toHaveURL(/\/login/, { timeout: 5_000 });
});

test.describe("a server restart", () => {
  // While the server is down the browser logs the refused or broken socket and requests.
  test.use({
    expectedConsole:
      /WebSocket connection to .* failed|net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|CONNECTION_CLOSED|SOCKET_NOT_CONNECTED|EMPTY_RESPONSE)/,
  });

  // A port of this run's own, so a server left over from an aborted run cannot answer.
  const port = 20_000 + (process.pid % 10_000);
  const bin = process.env.LOOKOUT_BIN ?? "../target/release/lookout";
  const db = `sqlite://${join(mkdtempSync(join(tmpdir(), "lookout-e2e-")), "restart.db")}`;
  const started: ChildProcess[] = [];

  async function start(): Promise<ChildProcess> {
    const server = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--database-url", db], {
      env: { ...process.env, LOOKOUT_ADMIN_PASSWORD: ADMIN_PASSWORD, RUST_LOG: "warn" },
      stdio: "ignore",
    });
    started.push(server);
    await expect
      .poll(async () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status).catch(() => 0), { timeout: 15_000 })
      .toBe(200);
    return server;
  }

  test.afterEach(() => {
    for (const server of started) server.kill("SIGKILL");
  });

  test("shows reconnecting while the server is gone and live when it is back", async ({ page }) => {
    const first = await start();
    await signInLive(page, `http://127.0.0.1:${port}`);

    first.kill("SIGKILL");
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "reconnecting", { timeout: 3_000 });
    await expect(page.locator("[data-connection]")).toHaveText("Reconnecting…");

    // The session is in the database, so the same page picks up where it left off.
    await start();
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live", { timeout: 15_000 });
    await expect(page.getByTestId("signed-in-user")).toHaveText("admin");
  });
});
