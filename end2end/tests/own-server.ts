import { execFileSync, spawn, ChildProcess } from "node:child_process";
import { get as httpsGet } from "node:https";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "@playwright/test";
import { ADMIN_PASSWORD } from "./fixtures";

export const BIN = process.env.LOOKOUT_BIN ?? "../target/release/lookout";

/**
 * A Lookout of a test's own: its own port and SQLite file, started and killed by the
 * test (for restarts, or for flags the shared server does not have). `bin` and `cwd` run
 * another copy of the binary, from another directory.
 */
export class OwnServer {
  readonly base: string;
  private readonly db: string;
  private running: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly flags: string[] = [],
    readonly https = false,
    private readonly options: { bin?: string; cwd?: string; database?: string } = {},
  ) {
    this.base = `${https ? "https" : "http"}://127.0.0.1:${port}`;
    this.db = options.database ?? `sqlite://${join(mkdtempSync(join(tmpdir(), "lookout-e2e-")), "own.db")}`;
  }

  async start(): Promise<void> {
    const server = spawn(this.bin, ["serve", "--addr", `127.0.0.1:${this.port}`, "--database-url", this.db, ...this.flags], {
      cwd: this.options.cwd,
      env: { ...process.env, LOOKOUT_ADMIN_PASSWORD: ADMIN_PASSWORD, RUST_LOG: "warn" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.running = server;
    let stderr = "";
    server.stderr!.on("data", (chunk) => (stderr += chunk));
    try {
      await expect
        .poll(
          async () => {
            if (server.exitCode !== null) return -server.exitCode;
            if (this.https) return selfSignedStatus(`${this.base}/healthz`);
            return fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(1_000) })
              .then((r) => r.status)
              .catch(() => 0);
          },
          { timeout: 15_000 },
        )
        .toBe(200);
    } catch (error) {
      throw new Error(`the server on port ${this.port} did not come up; it said:\n${stderr}\n${error}`);
    }
  }

  private get bin(): string {
    return this.options.bin ?? BIN;
  }

  /** Kills the server (SIGKILL: no goodbye, no flush) and waits until it is gone. */
  kill(): Promise<void> {
    return this.stop("SIGKILL");
  }

  /** Sends SIGTERM (a graceful stop: `bye`, reason `restart`) and waits until it has exited. */
  terminate(): Promise<void> {
    return this.stop("SIGTERM");
  }

  private async stop(signal: NodeJS.Signals): Promise<void> {
    const server = this.running;
    this.running = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => server.once("exit", () => resolve()));
    server.kill(signal);
    await gone;
  }

  /** Runs a `lookout` command against this server's database; its output. */
  cli(args: string[]): string {
    return execFileSync(this.bin, [...args, "--database-url", this.db], {
      encoding: "utf8",
      env: { ...process.env, RUST_LOG: "warn" },
      timeout: 15_000,
    });
  }

  /** A fresh ingest token from the command line; it prints the token on its last line. */
  token(name: string, hostPattern: string): string {
    const out = execFileSync(
      this.bin,
      ["token", "create", name, "--scope", "ingest", "--host", hostPattern, "--database-url", this.db],
      { encoding: "utf8", env: { ...process.env, RUST_LOG: "warn" }, timeout: 15_000 },
    );
    const token = out.trim().split("\n").pop()!.trim();
    expect(token).toMatch(/^lk_/);
    return token;
  }

  /** Pushes samples for one host; fails the test unless they are all accepted. */
  async ingest(token: string, host: string, samples: { series: string; ts: number; value: number }[]) {
    const res = await fetch(`${this.base}/api/v1/ingest`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ host, samples }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status, `ingest for ${host}: ${await res.text()}`).toBe(202);
  }
}

/** The status of a GET to a server with a self-signed certificate (0 if it does not answer). */
function selfSignedStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => {
      req.destroy();
      resolve(0);
    });
  });
}
