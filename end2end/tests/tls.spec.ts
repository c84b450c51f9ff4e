import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, hydrated, signIn, ADMIN, ADMIN_PASSWORD } from "./fixtures";
import { OwnServer } from "./own-server";

// Lookout serving HTTPS itself, with the self-signed certificate it makes on first start.
const server = new OwnServer(
  10_000 + (process.pid % 10_000),
  ["--tls-self-signed", "--tls-dir", mkdtempSync(join(tmpdir(), "lookout-tls-"))],
  true,
);

test.beforeAll(async () => {
  await server.start();
});

test.afterAll(async () => {
  await server.kill();
});

test("over TLS: sign in, live over wss, a Secure __Host- cookie, HSTS, and HTTP Basic on the API", async ({ browser }) => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  try {
    const login = await page.goto(`${server.base}/login`);
    expect(login?.headers()["strict-transport-security"]).toContain("max-age=");
    await hydrated(page);
    await signIn(page, ADMIN, ADMIN_PASSWORD);
    await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live");

    const cookies = await context.cookies(server.base);
    const session = cookies.find((c) => c.name === "__Host-lookout_session");
    expect(session, `the __Host- cookie among ${cookies.map((c) => c.name)}`).toBeDefined();
    expect(session!.secure).toBe(true);
    expect(session!.httpOnly).toBe(true);
    expect(session!.path).toBe("/");

    const basic = Buffer.from(`${ADMIN}:${ADMIN_PASSWORD}`).toString("base64");
    const api = await context.request.get(`${server.base}/api/v1/hosts`, {
      headers: { Authorization: `Basic ${basic}` },
    });
    expect(api.status()).toBe(200);
    expect((await api.json()).hosts.length).toBeGreaterThan(0);
  } finally {
    await context.close();
  }
});
