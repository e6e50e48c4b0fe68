// The demo in a real browser: Playwright (`playwright-core`) drives Debian's Chromium
// against a real `tandem serve` that each test starts on 127.0.0.1 (free port) and stops.
//
// Needs TANDEM_BIN (the tandem binary), TANDEM_DEMO_DIST (the built www/dist), and takes
// CHROMIUM / CHROMIUM_ARGS (the browser and its flags); `cargo xtask test` sets them all. Every wait has a timeout; nothing sleeps to synchronise.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const TANDEM = process.env.TANDEM_BIN;
const DIST = process.env.TANDEM_DEMO_DIST;
const WAIT = 15_000;

/** A `tandem serve` process serving the demo. */
class Server {
  static async start(extra = [], addr = "127.0.0.1:0") {
    const server = new Server(extra);
    await server.#spawn(addr);
    return server;
  }

  constructor(extra) {
    this.extra = extra;
  }

  async #spawn(addr) {
    const args = ["serve", "--addr", addr, "--static-dir", DIST, "--demo", ...this.extra];
    this.child = spawn(TANDEM, args, {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, RUST_LOG: "warn" },
    });
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
    const lines = createInterface({ input: this.child.stdout });
    const line = await within("tandem serve to print its address", new Promise((resolve, reject) => {
      lines.once("line", resolve);
      this.child.once("exit", (code) => reject(new Error(`tandem serve exited with ${code}`)));
    }));
    const match = /^tandem listening on (http:\/\/\S+)$/.exec(line);
    assert.ok(match, `unexpected first line ${line}`);
    this.url = match[1];
    this.addr = this.url.slice("http://".length);
  }

  /** SIGKILL: no close frames, in-memory rooms gone. */
  async kill() {
    this.child.kill("SIGKILL");
    await within("tandem serve to die", this.exited);
  }

  /** A fresh process on the same address. */
  async restart() {
    await this.#spawn(this.addr);
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) await this.kill();
  }
}

/** Awaits `promise`, failing with `what` after WAIT. */
async function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT} ms waiting for ${what}`)), WAIT);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let browser;

before(async () => {
  assert.ok(TANDEM && DIST, "TANDEM_BIN and TANDEM_DEMO_DIST must be set (cargo xtask test sets them)");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // The same flags as the wasm-bindgen tests (xtask's CHROME_ARGS); `headless` above.
    args: (process.env.CHROMIUM_ARGS ?? "").split(" ").filter((a) => a && a !== "--headless"),
  });
});

after(async () => {
  await browser?.close();
});

/** Opens the demo as `name` in `room`, in a context of its own (own storage). */
async function open(server, name, room, query = "") {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.sockets = [];
  page.on("websocket", (ws) => page.sockets.push(ws));
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
  await page.goto(`${server.url}/?name=${encodeURIComponent(name)}${query}#${room}`);
  return page;
}

/** Runs `body` with a fresh `tandem serve --guest-names`, stopped afterwards. */
async function withServer(body) {
  const server = await Server.start(["--guest-names"]);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

/** Alice and bob in `room`, each seeing the other in the presence list. */
async function aliceAndBob(server, room) {
  const alice = await open(server, "alice", room);
  const bob = await open(server, "bob", room);
  await alice.waitForSelector('#presence li[data-user="bob"]');
  await bob.waitForSelector('#presence li[data-user="alice"]');
  return { alice, bob };
}

async function waitState(page, kind) {
  await page.waitForSelector(`#badge[data-state="${kind}"]`);
}

/** How many reconnect waits the page's badge has counted. */
async function reconnects(page) {
  return Number((await page.getAttribute("#badge", "data-reconnects")) ?? "0");
}

/** Waits until the page has gone through more reconnect waits than `before`. */
async function waitReconnecting(page, before) {
  await page.waitForFunction(
    (n) => Number(document.getElementById("badge")?.dataset.reconnects ?? "0") > n,
    before,
  );
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** The chat lines of `page` that end with `text`. */
async function linesSaying(page, text) {
  return page.$$eval("#chat li", (lis, t) => lis.filter((li) => li.textContent.endsWith(t)).length, text);
}

async function presence(page) {
  return page.$$eval("#presence li", (lis) => lis.map((li) => li.dataset.user));
}

test("two pages in one room see each other's presence, cursors and chat", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-1");
    await waitState(alice, "open");
    await waitState(bob, "open");

    // Alice moves her pointer over the board; bob sees her cursor follow.
    const board = await alice.$("#board");
    const box = await board.boundingBox();
    await alice.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.25);
    const cursor = await bob.waitForSelector('.cursor[data-user="alice"]');
    const first = await cursor.evaluate((el) => el.style.left);
    await alice.mouse.move(box.x + box.width * 0.75, box.y + box.height * 0.6, { steps: 10 });
    await bob.waitForFunction(
      (before) => document.querySelector('.cursor[data-user="alice"]')?.style.left !== before,
      first,
    );
    const moved = await cursor.evaluate((el) => parseFloat(el.style.left));
    assert.ok(moved > 50, `alice's cursor moved right on bob's page (left ${moved}%)`);

    // Chat both ways.
    await say(alice, "hello from alice");
    await bob.waitForSelector('#chat li:has-text("hello from alice")');
    await say(bob, "hi alice");
    await alice.waitForSelector('#chat li:has-text("hi alice")');

    // A second tab of alice is the same member, and it gets the chat history on join.
    const alice2 = await open(server, "alice", "room-1");
    await alice2.waitForSelector('#chat li:has-text("hello from alice")');
    await alice2.waitForSelector('#chat li:has-text("hi alice")');
    await say(alice2, "second tab here");
    await bob.waitForSelector('#chat li:has-text("second tab here")');
    assert.deepEqual(await presence(bob), ["alice", "bob"], "two tabs of alice are one member");
    assert.deepEqual(await presence(alice2), ["alice", "bob"]);
  }));

test("a killed and restarted server: both pages reconnect, outage chat arrives exactly once", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-2");

    const [aliceBefore, bobBefore] = [await reconnects(alice), await reconnects(bob)];
    await server.kill();
    await waitReconnecting(alice, aliceBefore);
    await waitReconnecting(bob, bobBefore);
    // While the server is down the badge counts down to the next attempt.
    await alice.waitForFunction(() =>
      /reconnecting in \d+\.\d s \(attempt \d+\)/.test(document.getElementById("badge")?.textContent ?? ""),
    );
    // Said while the server is down: queued, sent once the connection is back.
    await say(alice, "sent during the outage");

    // While it is down, the badge offers to retry now; a retry is one more failed attempt.
    const beforeRetry = await reconnects(alice);
    await alice.click("#retry");
    await waitReconnecting(alice, beforeRetry);

    await server.restart();
    await waitState(alice, "open");
    assert.equal(await alice.isHidden("#retry"), true, "no retry button once open");
    await waitState(bob, "open");
    await bob.waitForSelector('#chat li:has-text("sent during the outage")');
    // A later message as a barrier: anything duplicated would have arrived before it.
    await say(alice, "after the restart");
    await bob.waitForSelector('#chat li:has-text("after the restart")');
    await alice.waitForSelector('#chat li:has-text("after the restart")');
    assert.equal(await linesSaying(bob, "sent during the outage"), 1);
    assert.equal(await linesSaying(alice, "sent during the outage"), 1);
    await alice.waitForSelector('#chat li.note:has-text("reconnected")');
  }));

test("the drop button: the page recovers and resumes without losing a message", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-3");
    await waitState(bob, "open");
    const before = await reconnects(bob);
    await bob.click("#drop");
    await waitReconnecting(bob, before);
    await say(alice, "while bob was away");
    await waitState(bob, "open");
    await bob.waitForSelector('#chat li:has-text("while bob was away")');
    assert.equal(await linesSaying(bob, "while bob was away"), 1);
  }));

test("a bad token shows a clear error and does not retry", () =>
  withServer(async (server) => {
    const page = await open(server, "mallory", "room-4", "&token=forged");
    await page.waitForSelector("#error:not([hidden])");
    const error = await page.textContent("#error");
    assert.match(error, /^unauthorized: /, `the page says why: ${error}`);
    await waitState(page, "closed");
    // Closed for good: no second connection attempt follows.
    await assert.rejects(page.waitForEvent("websocket", { timeout: 2_000 }), /Timeout/);
    assert.equal(page.sockets.length, 1, "one connection attempt, no retry loop");
  }));
