import jsQR from "jsqr";
import { PNG } from "pngjs";
import { Page } from "@playwright/test";
import { test, expect, hydrated, signIn, ADMIN, ADMIN_PASSWORD } from "./fixtures";
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

/** The link and the decoded QR code of the invite the groups page just made. */
async function newInvite(page: Page): Promise<string> {
  const shown = page.locator(".new-invite");
  await expect(shown).toBeVisible();
  const link = (await shown.getByTestId("new-invite-link").textContent())!.trim();
  expect(link).toMatch(/^http.*\/invite\/\d+\.[\w-]{43}$/);
  const png = PNG.sync.read(await shown.locator(".qr-code svg").screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  expect(decoded?.data, "the QR code is the link").toBe(link);
  return link;
}

// The whole invite flow in the browser: an admin makes the invite on the groups page (link
// and QR code), a new person opens it in a fresh browser, signs up and sees exactly the
// group's hosts; an invite revoked on the page is refused.
test("an invite made on the groups page signs a new person up into exactly its group", async ({ page, browser }) => {
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("link", { name: "Groups" }).click();
  await expect(page).toHaveURL(`${server.base}/admin/groups`);
  await hydrated(page);
  const ops = page.locator('section[data-group="ops"]');
  await expect(ops.locator('li[data-host="ops-1"]')).toBeVisible();
  await ops.getByRole("button", { name: "Create invite" }).click();
  const link = await newInvite(page);

  const context = await browser.newContext();
  const fresh = await context.newPage();
  try {
    await fresh.goto(link);
    await expect(fresh.getByRole("heading", { name: "Join ops" })).toBeVisible();
    await fresh.getByLabel("Username").fill("from-the-page");
    await fresh.getByLabel("Password").fill("a-long-enough-password");
    await fresh.getByRole("button", { name: "Join" }).click();
    await expect(fresh).toHaveURL(`${server.base}/`);
    await expect(fresh.getByTestId("signed-in-user")).toHaveText("from-the-page");
    await expect(fresh.locator("[data-connection]")).toHaveAttribute("data-connection", "live");
    await expect(fresh.getByTestId("host-count")).toHaveText("1 host");
    await expect(fresh.getByRole("link", { name: "ops-1", exact: true })).toBeVisible();
    await expect(fresh.getByRole("link", { name: "other-1", exact: true })).toHaveCount(0);
  } finally {
    await context.close();
  }

  // The member shows on the page; a second invite, revoked there, is refused.
  await page.reload();
  await hydrated(page);
  await expect(ops.locator('li[data-member="from-the-page"]')).toBeVisible();
  await ops.getByRole("button", { name: "Create invite" }).click();
  const revoked = await newInvite(page);
  const id = revoked.split("/invite/")[1].split(".")[0];
  await ops.locator(`tr[data-invite="${id}"]`).getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("status")).toContainText(`Revoked invite ${id}.`);
  await expect(ops.locator(`tr[data-invite="${id}"]`)).toHaveAttribute("data-state", "revoked");

  const other = await browser.newContext();
  const late = await other.newPage();
  try {
    for (const [url, message] of [
      [revoked, "This invite was revoked."],
      [link, "This invite has been used already."],
    ]) {
      await late.goto(url);
      await expect(late.getByRole("alert")).toContainText(message);
      await expect(late.getByLabel("Username")).toHaveCount(0);
    }
  } finally {
    await other.close();
  }
});
