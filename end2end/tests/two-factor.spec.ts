import { createHmac } from "node:crypto";
import { Page } from "@playwright/test";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { test, expect, hydrated, signIn, ADMIN, ADMIN_PASSWORD } from "./fixtures";
import { OwnServer } from "./own-server";

// A server of this file's own, so that the throttling this test sets off stays here.
const server = new OwnServer(50_000 + (process.pid % 10_000));

test.beforeAll(async () => {
  await server.start();
});

test.afterAll(async () => {
  await server.kill();
});

/** RFC 4648 base32, as authenticator apps read the key. */
function base32(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "")) {
    const v = alphabet.indexOf(c.toUpperCase());
    expect(v, `base32 character ${c}`).toBeGreaterThanOrEqual(0);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes = bits.match(/.{8}/g) ?? [];
  return Buffer.from(bytes.map((b) => parseInt(b, 2)));
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of `secret` at `unixSecs`, computed here. */
function totp(secret: string, unixSecs = Date.now() / 1000): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / 30)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return n.toString().padStart(6, "0");
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** The password step: lands on the second step, with no session yet. */
async function password(page: Page) {
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/login\/verify/);
  await hydrated(page);
  const cookies = await page.context().cookies(server.base);
  expect(cookies.some((c) => c.name === "lookout_session"), "no session before the code").toBe(false);
}

async function code(page: Page, value: string) {
  await page.getByLabel("Code").fill(value);
  await page.getByRole("button", { name: "Verify" }).click();
}

test.use({ expectedStatuses: [401, 429] });

test("two-factor sign-in: enrol, then password and code; wrong codes refused and throttled; a recovery code once", async ({ page }) => {
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);

  // Enrol on the settings page: the QR code holds the same key the page shows.
  await page.goto(`${server.base}/settings/sessions`);
  await hydrated(page);
  await expect(page.getByTestId("two-factor-state")).toContainText("Off.");
  await page.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  const png = PNG.sync.read(await page.locator(".two-factor .qr-code svg").screenshot());
  const uri = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data ?? "";
  expect(uri).toMatch(/^otpauth:\/\/totp\/Lookout:admin\?/);
  expect(new URL(uri).searchParams.get("secret")).toBe(secret);
  await page.getByLabel("Code").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on" }).click();
  const codes = page.getByTestId("recovery-codes").locator("li");
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.allTextContents()).map((c) => c.trim());
  expect(recovery[0]).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
  await page.goto(`${server.base}/settings/sessions`);
  await expect(page.getByTestId("two-factor-state")).toContainText("On. 10 recovery codes left.");
  await signOut(page);

  // Password, then the code of the next step (the enrolment used this one's).
  await password(page);
  await code(page, totp(secret, Date.now() / 1000 + 30));
  await expect(page).toHaveURL(`${server.base}/`);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
  await signOut(page);

  // A recovery code works once.
  await password(page);
  await code(page, recovery[0]);
  await expect(page.getByTestId("signed-in-user")).toHaveText(ADMIN);
  await signOut(page);
  await password(page);
  await code(page, recovery[0]);
  await expect(page.getByRole("alert")).toContainText("That code is not right");
  await expect(page).toHaveURL(/\/login\/verify/);

  // Wrong codes: refused, then throttled; then even the right code waits.
  for (let i = 0; i < 8; i++) {
    await code(page, "000000");
    const alert = page.getByRole("alert");
    await expect(alert).toBeVisible();
    if ((await alert.textContent())?.includes("Too many failed sign-ins")) break;
  }
  await expect(page.getByRole("alert")).toContainText("Too many failed sign-ins");
  await code(page, totp(secret, Date.now() / 1000 + 30));
  await expect(page.getByRole("alert")).toContainText("Too many failed sign-ins");
  const cookies = await page.context().cookies(server.base);
  expect(cookies.some((c) => c.name === "lookout_session"), "still no session").toBe(false);
});
