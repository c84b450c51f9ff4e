import jsQR from "jsqr";
import { PNG } from "pngjs";
import { test, expect } from "./fixtures";
import { OwnServer } from "./own-server";

// A server of this file's own: a group `ops` with host ops-1, and host other-1 outside it.
const server = new OwnServer(40_000 + (process.pid % 10_000), ["--host-name", "lookout-self"]);

/** The link `lookout invite create` prints on its last line. */
function invite(args: string[]): string {
  const out = server.cli(["invite", "create", ...args]);
  const link = out.trim().split("\n").pop()!.trim();
  expect(link).toMatch(/^http.*\/invite\/\d+\.[\w-]{43}$/);
  return `${server.base}/invite/${link.split("/invite/")[1]}`;
}

test.beforeAll(async () => {
  await server.start();
  server.cli(["group", "add", "ops"]);
  const now = Date.now();
  for (const [host, group] of [
    ["ops-1", ["--group", "ops"]],
    ["other-1", []],
  ] as const) {
    const out = server.cli(["token", "create", host, "--scope", "ingest", "--host", host, ...group]);
    const token = out.trim().split("\n").pop()!.trim();
    await server.ingest(token, host, [{ series: "cpu.total", ts: now, value: 12 }]);
  }
});

test.afterAll(async () => {
  await server.kill();
});

test("an invite link makes an account that sees exactly its group's hosts", async ({ browser }) => {
  const link = invite(["ops"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(link);
    await expect(page.getByRole("heading", { name: "Join ops" })).toBeVisible();
    // The QR code (an SVG the server made) decodes to the same link the page shows.
    await expect(page.locator(".invite-link")).toHaveText(link);
    const png = PNG.sync.read(await page.locator(".qr-code svg").screenshot());
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded?.data).toBe(link);

    await page.getByLabel("Username").fill("newcomer");
    await page.getByLabel("Password").fill("a-long-enough-password");
    await page.getByRole("button", { name: "Join" }).click();

    await expect(page).toHaveURL(`${server.base}/`);
    await expect(page.getByTestId("signed-in-user")).toHaveText("newcomer");
    await expect(page.locator("[data-connection]")).toHaveAttribute("data-connection", "live");
    await expect(page.getByTestId("host-count")).toHaveText("1 host");
    await expect(page.getByRole("link", { name: "ops-1", exact: true })).toBeVisible();
    await expect(page.getByRole("link", { name: "other-1", exact: true })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "lookout-self", exact: true })).toHaveCount(0);
  } finally {
    await context.close();
  }
});

test("used, expired and revoked invites are refused with a clear message", async ({ browser }) => {
  const used = invite(["ops", "--uses", "1"]);
  const expired = invite(["ops", "--expires", "1s"]);
  const revoked = invite(["ops"]);
  server.cli(["invite", "revoke", revoked.split("/invite/")[1].split(".")[0]]);

  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(used);
    await page.getByLabel("Username").fill("first-one");
    await page.getByLabel("Password").fill("a-long-enough-password");
    await page.getByRole("button", { name: "Join" }).click();
    await expect(page).toHaveURL(`${server.base}/`);
    await context.clearCookies();

    await page.waitForTimeout(1_200);
    for (const [link, message] of [
      [used, "This invite has been used already."],
      [expired, "This invite has expired."],
      [revoked, "This invite was revoked."],
      [`${server.base}/invite/1.${"x".repeat(43)}`, "This invite link is not valid."],
    ]) {
      await page.goto(link);
      await expect(page.getByRole("heading", { name: "Invitation not valid" })).toBeVisible();
      await expect(page.getByRole("alert")).toContainText(message);
      await expect(page.getByLabel("Username")).toHaveCount(0);
      await expect(page.locator(".qr-code")).toHaveCount(0);
    }
  } finally {
    await context.close();
  }
});
