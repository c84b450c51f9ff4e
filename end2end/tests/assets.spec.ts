import { test, expect } from "./fixtures";

// The release build's hashed bundle: brotli from the precompressed file, cached for a year.
test("the WASM bundle is served brotli-compressed with immutable caching", async ({ request }) => {
  const html = await (await request.get("/login")).text();
  const wasm = html.match(/href="(\/pkg\/site\.[\w-]+\.wasm)"/)?.[1];
  expect(wasm, "a content-hashed wasm link in the page").toBeTruthy();

  const res = await request.get(wasm!, { headers: { "accept-encoding": "br, gzip" } });
  expect(res.status()).toBe(200);
  expect(res.headers()["content-encoding"]).toBe("br");
  expect(res.headers()["content-type"]).toBe("application/wasm");
  expect(res.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");

  const page = await request.get("/login");
  expect(page.headers()["cache-control"]).toBe("no-store");
});
