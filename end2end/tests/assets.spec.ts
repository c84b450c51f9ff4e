import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, hydrated } from "./fixtures";
import { BIN, OwnServer } from "./own-server";

const IMMUTABLE = "public, max-age=31536000, immutable";

// The release build's hashed bundle: brotli from the precompressed file, cached for a year.
test("the WASM bundle is served brotli-compressed with immutable caching", async ({ request }) => {
  const html = await (await request.get("/login")).text();
  const wasm = html.match(/href="(\/pkg\/site\.[\w-]+\.wasm)"/)?.[1];
  expect(wasm, "a content-hashed wasm link in the page").toBeTruthy();

  const res = await request.get(wasm!, { headers: { "accept-encoding": "br, gzip" } });
  expect(res.status()).toBe(200);
  expect(res.headers()["content-encoding"]).toBe("br");
  expect(res.headers()["content-type"]).toBe("application/wasm");
  expect(res.headers()["cache-control"]).toBe(IMMUTABLE);

  const page = await request.get("/login");
  expect(page.headers()["cache-control"]).toBe("no-store");
});

// `cargo xtask dist` compiles the site into the binary: a copy of the binary alone, started
// in an empty directory (no target/site, no hash.txt beside it), serves the whole page.
test("the release binary serves its own site from an empty directory", async ({ page, request }) => {
  const dir = mkdtempSync(join(tmpdir(), "lookout-alone-"));
  const bin = join(dir, "lookout");
  copyFileSync(BIN, bin);
  chmodSync(bin, 0o755);
  const server = new OwnServer(60_000 + (process.pid % 5_000), [], false, { bin, cwd: dir });
  await server.start();
  try {
    const html = await (await request.get(`${server.base}/login`)).text();
    const bundle = [...html.matchAll(/href="(\/pkg\/site\.[\w-]+\.(js|wasm|css))"/g)];
    const types: Record<string, string> = {
      js: "text/javascript",
      wasm: "application/wasm",
      css: "text/css",
    };
    expect(bundle.map((m) => m[2]).sort(), "the page names the bundle's three files").toEqual([
      "css",
      "js",
      "wasm",
    ]);
    for (const [, path, ext] of bundle) {
      const res = await request.get(`${server.base}${path}`, { headers: { "accept-encoding": "br, gzip" } });
      expect(res.status(), path).toBe(200);
      expect(res.headers()["content-type"], path).toBe(types[ext]);
      expect(res.headers()["content-encoding"], path).toBe("br");
      expect(res.headers()["cache-control"], path).toBe(IMMUTABLE);
    }

    const wasm = bundle.find((m) => m[2] === "wasm")![1];
    const gzip = await request.get(`${server.base}${wasm}`, { headers: { "accept-encoding": "gzip" } });
    expect(gzip.headers()["content-encoding"]).toBe("gzip");
    const plain = await request.get(`${server.base}${wasm}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers()["content-encoding"]).toBeUndefined();
    expect([...(await plain.body()).subarray(0, 4)], "a WebAssembly module").toEqual([0, 0x61, 0x73, 0x6d]);

    const logo = await request.get(`${server.base}/logo.svg`);
    expect(logo.status()).toBe(200);
    expect(logo.headers()["content-type"]).toBe("image/svg+xml");
    expect(logo.headers()["cache-control"]).toBe("public, max-age=3600");
    expect((await request.get(`${server.base}/pkg/site.missing.wasm`)).status()).toBe(404);

    await page.goto(`${server.base}/login`);
    await hydrated(page);
  } finally {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
