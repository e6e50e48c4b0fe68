// The npm package outside a browser. Importing it under Node (what a server-rendered page
// does) loads and runs nothing, so it never throws; without a WebSocket, `connect` rejects
// with a typed error; with Node's WebSocket (--experimental-websocket on Node 20), the
// package works against a real `tandem serve` that the test starts and stops.
//
// Needs TANDEM_BIN (the tandem binary); `cargo xtask test` sets it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const TANDEM = process.env.TANDEM_BIN;
const WAIT = 15_000;

function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test("importing the package under Node runs nothing and throws nothing", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const sdk = await import("tandem-sdk");
  assert.equal(typeof sdk.Client.connect, "function");
  assert.equal(typeof sdk.TandemError, "function");
  if (typeof WebSocket === "undefined") {
    await assert.rejects(sdk.Client.connect("ws://127.0.0.1:9"), (e) => {
      assert.ok(e instanceof sdk.TandemError);
      assert.equal(e.code, "unsupported");
      return true;
    });
  }
});

test("the package works with Node's own WebSocket", { skip: !TANDEM && "TANDEM_BIN is not set" }, async () => {
  const secret = "node-test-secret";
  const server = spawn(TANDEM, ["serve", "--addr", "127.0.0.1:0", "--token-secret", secret], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  try {
    const line = await within(
      "tandem serve to print its address",
      new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve)),
    );
    const url = line.replace("tandem listening on http://", "ws://").trim();
    const token = (user) =>
      execFileSync(TANDEM, ["token", "--secret", secret, "--user", user]).toString().trim();
    const script = fileURLToPath(new URL("./node/client.mjs", import.meta.url));
    const child = spawn(process.execPath, ["--experimental-websocket", script, url, token("ada"), token("bo")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const output = await within(
      "the Node client",
      new Promise((resolve, reject) => {
        let text = "";
        child.stdout.on("data", (d) => {
          text += d;
        });
        child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
      }),
    );
    const result = JSON.parse(output.trim().split("\n").pop());
    assert.equal(result.user, "ada");
    assert.equal(result.seq, 1);
    assert.deepEqual(result.got, { text: "from node" });
    assert.deepEqual(result.cursor, { cursor: [1, 2] });
    assert.deepEqual(result.updated, [{ user: "ada", meta: { where: "still node" } }]);
    assert.deepEqual(result.members, ["ada", "bo"]);
    assert.deepEqual(result.page, [{ text: "from node" }]);
  } finally {
    server.kill();
  }
});
