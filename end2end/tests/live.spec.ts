import { test, expect, signInLive } from "./fixtures";
import { OwnServer } from "./own-server";

test("a host's live charts move every second while the connection reads live", async ({ page }) => {
  await signInLive(page);
  // The server watches its own machine: the overview lists it; its page charts it live.
  const host = page.locator("a.host-link").first();
  await expect(host).toBeVisible();
  await host.click();
  await expect(page).toHaveURL(/\/hosts\/[a-z0-9._-]+$/);
  await expect(page.getByRole("button", { name: "Live", exact: true })).toHaveAttribute("aria-pressed", "true");
  await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live");
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
  const server = new OwnServer(20_000 + (process.pid % 10_000));
  const port = server.port;

  let pushing: ReturnType<typeof setInterval> | undefined;

  test.afterEach(async () => {
    clearInterval(pushing);
    pushing = undefined;
    await server.kill();
  });

  /** Pushes one cpu.total sample for `host` every 500 ms; counts the answers that were 202. */
  function pushEvery500ms(host: string, token: string): { accepted: number } {
    const counts = { accepted: 0 };
    pushing = setInterval(() => {
      const body = { host, samples: [{ series: "cpu.total", ts: Date.now(), value: Math.random() * 100 }] };
      fetch(`http://127.0.0.1:${port}/api/v1/ingest`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(2_000),
      })
        .then((r) => {
          if (r.status === 202) counts.accepted++;
        })
        // While the server is down the push fails; the next one tries again.
        .catch(() => {});
    }, 500);
    return counts;
  }

  test("shows reconnecting while the server is gone and live when it is back", async ({ page }) => {
    await server.start();
    await signInLive(page, server.base);

    await server.kill();
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "reconnecting", { timeout: 3_000 });
    await expect(page.locator("[data-connection]")).toHaveText("Reconnecting…");

    // The session is in the database, so the same page picks up where it left off.
    await server.start();
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live", { timeout: 15_000 });
    await expect(page.getByTestId("signed-in-user")).toHaveText("admin");
  });

  test("an ingested host's chart moves again after the server comes back", async ({ page }) => {
    test.setTimeout(90_000);
    await server.start();
    const pushes = pushEvery500ms("e2e-pushed", server.token("pusher", "e2e-pushed"));
    await signInLive(page, server.base);
    await page.getByRole("link", { name: "e2e-pushed", exact: true }).click();
    await expect(page).toHaveURL(/\/hosts\/e2e-pushed$/);

    const connection = page.locator("[data-connection]");
    const cpu = page.locator('[data-series="cpu.total"] path.line');
    await expect(cpu).toHaveAttribute("d", /^M/, { timeout: 10_000 });

    await server.kill();
    await expect(connection).toHaveAttribute("data-connection", "reconnecting", { timeout: 3_000 });
    await server.start();
    const acceptedBefore = pushes.accepted;
    await expect(connection).toHaveAttribute("data-connection", "live", { timeout: 15_000 });

    // Live is not enough: the pushed host's line must keep moving on the new socket.
    let seen = await cpu.getAttribute("d");
    for (let change = 0; change < 2; change++) {
      await expect
        .poll(async () => cpu.getAttribute("d"), { timeout: 10_000, message: `change ${change + 1} after the restart` })
        .not.toBe(seen);
      seen = await cpu.getAttribute("d");
    }
    expect(pushes.accepted, "pushes accepted by the restarted server").toBeGreaterThan(acceptedBefore);
    await expect(connection).toHaveAttribute("data-connection", "live");
  });
});
