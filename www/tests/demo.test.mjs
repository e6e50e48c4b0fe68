// The demo in a real browser: Playwright (`playwright-core`) drives Debian's Chromium
// against a real `tandem serve` that each test starts on 127.0.0.1 (free port) and stops.
//
// Needs TANDEM_BIN (the tandem binary), TANDEM_DEMO_DIST (the built www/dist), and takes
// CHROMIUM / CHROMIUM_ARGS (the browser and its flags); `cargo xtask test` sets them all.
// Screenshots go to TANDEM_TEST_OUTPUT (default: target/xtask/demo-screenshots/, which git
// ignores). Every wait is on a page condition with a timeout; nothing sleeps to synchronise,
// and nothing asserts how long something took.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const TANDEM = process.env.TANDEM_BIN;
const DIST = process.env.TANDEM_DEMO_DIST;
const WAIT = 15_000;
/** Where the screenshots go (never into the repository's tracked files). */
const OUTPUT =
  process.env.TANDEM_TEST_OUTPUT ?? fileURLToPath(new URL("../../target/xtask/demo-screenshots/", import.meta.url));
/** The policy `cargo xtask demo` gives the demo's cursors companions (xtask/src/demo.rs). */
const CURSORS_ROOM_POLICY = "*/cursors:history=0,ephemeral-only,presence=off";

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
    const args = ["serve", "--addr", addr, "--static-dir", DIST, "--demo", "--room", CURSORS_ROOM_POLICY, ...this.extra];
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

/**
 * Opens the demo in `room`, in a context of its own (own storage): as `name` (the `?name=`
 * parameter), or at the name picker when `name` is null. `query` is more of the URL's query.
 */
async function open(server, name, room, { query = "", viewport } = {}) {
  const context = await browser.newContext(viewport ? { viewport } : {});
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.sockets = [];
  page.sent = [];
  page.on("websocket", (ws) => {
    page.sockets.push(ws);
    ws.on("framesent", (frame) => page.sent.push(frame.payload));
  });
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
  const who = name === null ? "" : `name=${encodeURIComponent(name)}`;
  await page.goto(`${server.url}/?${who}${query}#${room}`);
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
async function aliceAndBob(server, room, options = {}) {
  const alice = await open(server, "alice", room, options.alice);
  const bob = await open(server, "bob", room, options.bob);
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

/** Types `text` into the chat box and presses Enter. */
async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** Says `text` and waits until the server has stored it (the line has its seq). */
async function sayStored(page, text) {
  await say(page, text);
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#chat li[data-seq] .text")].some((el) => el.textContent === t),
    text,
  );
}

/** How many chat lines of `page` say exactly `text`. */
async function linesSaying(page, text) {
  return page.$$eval("#chat li.msg .text", (els, t) => els.filter((el) => el.textContent === t).length, text);
}

/** The texts of the numbered chat lines, top to bottom. */
async function chatTexts(page) {
  return page.$$eval("#chat li[data-seq] .text", (els) => els.map((el) => el.textContent));
}

async function presence(page) {
  return page.$$eval("#presence li", (lis) => lis.map((li) => li.dataset.user));
}

/** The position of the board at fractions (`fx`, `fy`) of its size, in page pixels. */
async function boardPoint(page, fx, fy) {
  const box = await page.locator("#board").boundingBox();
  return [box.x + box.width * fx, box.y + box.height * fy];
}

/** Waits until `page` draws `user`'s cursor at fractions (`x`, `y`) of its board. */
async function waitCursorAt(page, user, x, y, tolerance = 0.015) {
  await page.waitForFunction(
    ([user, x, y, tolerance]) => {
      const board = document.getElementById("board");
      const cursor = document.querySelector(`.cursor[data-user="${user}"]`);
      if (!board || !cursor || !cursor.checkVisibility()) return false;
      const b = board.getBoundingClientRect();
      const c = cursor.getBoundingClientRect();
      const fx = (c.left - b.left - board.clientLeft) / board.clientWidth;
      const fy = (c.top - b.top - board.clientTop) / board.clientHeight;
      return Math.abs(fx - x) < tolerance && Math.abs(fy - y) < tolerance;
    },
    [user, x, y, tolerance],
  );
}

/** Waits until the presence list of `page` has `n` members with `n` different colours. */
async function waitDistinctColors(page, n) {
  await page.waitForFunction((n) => {
    const colors = [...document.querySelectorAll("#presence li")].map((li) => li.style.getPropertyValue("--color"));
    return colors.length === n && new Set(colors).size === n;
  }, n);
}

/** The colour `page` gives `user` in its presence list. */
async function colorOf(page, user) {
  return page.$eval(`#presence li[data-user="${user}"]`, (li) => li.style.getPropertyValue("--color"));
}

/** The notes "<user> joined" / "<user> left" in the chat of `page`. */
async function notes(page, event, user) {
  return page.locator(`#chat li.note[data-event="${event}"][data-user="${user}"]`).count();
}

test("two pages in one room see each other's presence, cursors and chat", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-1");
    await waitState(alice, "open");
    await waitState(bob, "open");
    assert.equal(await bob.textContent("#badge"), "Live");

    // Each page marks its own entry, and gives the two users different colours.
    await alice.waitForSelector('#presence li[data-user="alice"] .you');
    assert.equal(await alice.locator('#presence li[data-user="bob"] .you').count(), 0);
    await waitDistinctColors(bob, 2);

    // Alice moves her pointer over the board; bob sees her cursor follow.
    await alice.mouse.move(...(await boardPoint(alice, 0.25, 0.25)));
    await waitCursorAt(bob, "alice", 0.25, 0.25);

    // Chat both ways; the own line is styled as such.
    await say(alice, "hello from alice");
    await bob.waitForSelector('#chat li:has-text("hello from alice")');
    await alice.waitForSelector('#chat li.own:has-text("hello from alice")');
    assert.equal(await bob.locator('#chat li.own:has-text("hello from alice")').count(), 0);
    await say(bob, "hi alice");
    await alice.waitForSelector('#chat li:has-text("hi alice")');
    // Lines carry the time they were written.
    await bob.waitForSelector('#chat li:has-text("hello from alice") time');

    // A second tab of alice is the same member, and it gets the chat history on join.
    const alice2 = await open(server, "alice", "room-1");
    await alice2.waitForSelector('#chat li:has-text("hello from alice")');
    await alice2.waitForSelector('#chat li:has-text("hi alice")');
    await say(alice2, "second tab here");
    await bob.waitForSelector('#chat li:has-text("second tab here")');
    assert.deepEqual(await presence(bob), ["alice", "bob"], "two tabs of alice are one member");
    assert.deepEqual(await presence(alice2), ["alice", "bob"]);
    // ... whose tabs are counted, on every page.
    await bob.waitForSelector('#presence li[data-user="alice"][data-tabs="2"]:has-text("2 tabs")');
    await alice.waitForSelector('#presence li[data-user="alice"][data-tabs="2"]');
    await alice2.waitForSelector('#presence li[data-user="alice"][data-tabs="2"]');
    // Both tabs of alice count the one line once.
    await alice.waitForSelector('#chat li:has-text("second tab here")');
    assert.equal(await linesSaying(alice2, "second tab here"), 1);
    assert.equal(await linesSaying(alice, "second tab here"), 1);
    // The second tab closes: it says so, and alice is one tab again (and still here).
    await alice2.close();
    await bob.waitForSelector('#presence li[data-user="alice"][data-tabs="1"]');
    await alice.waitForSelector('#presence li[data-user="alice"][data-tabs="1"]');
    assert.deepEqual(await presence(bob), ["alice", "bob"]);
  }));

test("colours: two names that would share a colour get distinct ones from the palette", () =>
  withServer(async (server) => {
    // "alice" and "mallory" hash to the same palette entry: the later name moves.
    const alice = await open(server, "alice", "room-colors");
    const mallory = await open(server, "mallory", "room-colors");
    await alice.waitForSelector('#presence li[data-user="mallory"]');
    await waitDistinctColors(alice, 2);
    await waitDistinctColors(mallory, 2);
    const [a, m] = await Promise.all([colorOf(alice, "alice"), colorOf(alice, "mallory")]);
    assert.equal(await colorOf(mallory, "alice"), a, "every page shows the same colours");
    assert.equal(await colorOf(mallory, "mallory"), m);
  }));

test("cursors: ephemeral, the final position of a fast move arrives, hidden when the pointer leaves", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-cursors");
    await alice.mouse.move(...(await boardPoint(alice, 0.2, 0.3)));
    await waitCursorAt(bob, "alice", 0.2, 0.3);
    // A fast flick: many moves within the send interval; the last one must be the one shown.
    await alice.mouse.move(...(await boardPoint(alice, 0.8, 0.7)), { steps: 25 });
    await waitCursorAt(bob, "alice", 0.8, 0.7);
    // Two flicks back and forth, ending elsewhere.
    await alice.mouse.move(...(await boardPoint(alice, 0.1, 0.9)), { steps: 3 });
    await alice.mouse.move(...(await boardPoint(alice, 0.55, 0.45)), { steps: 3 });
    await waitCursorAt(bob, "alice", 0.55, 0.45);
    // And the other way round.
    await bob.mouse.move(...(await boardPoint(bob, 0.6, 0.2)), { steps: 5 });
    await waitCursorAt(alice, "bob", 0.6, 0.2);

    // The moves went out as ephemeral messages to the cursors companion room.
    const cursorFrames = alice.sent
      .filter((p) => typeof p === "string")
      .map((p) => JSON.parse(p))
      .filter((f) => f.k === "publish" && f.data?.kind === "cursor");
    assert.ok(cursorFrames.length > 0, "alice sent cursor moves");
    for (const f of cursorFrames) {
      assert.equal(f.ephemeral, true, `a cursor move is ephemeral: ${JSON.stringify(f)}`);
      assert.equal(f.room, "room-cursors/cursors");
    }

    // The pointer leaves the board: bob no longer shows alice's cursor.
    const header = await alice.locator("header").boundingBox();
    await alice.mouse.move(header.x + 5, header.y + 5);
    await bob.waitForSelector('.cursor[data-user="alice"]', { state: "hidden" });
    // And comes back where it enters.
    await alice.mouse.move(...(await boardPoint(alice, 0.4, 0.6)));
    await waitCursorAt(bob, "alice", 0.4, 0.6);
  }));

test("a killed and restarted server: both pages reconnect, outage chat is queued and arrives exactly once", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-2");

    const [aliceBefore, bobBefore] = [await reconnects(alice), await reconnects(bob)];
    await server.kill();
    await waitReconnecting(alice, aliceBefore);
    await waitReconnecting(bob, bobBefore);
    // While the server is down the badge says so in plain words.
    await alice.waitForFunction(() =>
      /^(Reconnecting in \d+ s|Reconnecting…|Connecting…)$/.test(document.getElementById("badge")?.textContent ?? ""),
    );
    // Said while the server is down: shown at once as queued, sent once the connection is back.
    await say(alice, "sent during the outage");
    await alice.waitForSelector('#chat li.queued:has-text("sent during the outage") .status:text("queued")');

    // While it is down, the badge offers to retry now; a retry is one more failed attempt.
    const beforeRetry = await reconnects(alice);
    await alice.click("#retry");
    await waitReconnecting(alice, beforeRetry);

    await server.restart();
    await waitState(alice, "open");
    assert.equal(await alice.isHidden("#retry"), true, "no retry button once open");
    await waitState(bob, "open");
    await bob.waitForSelector('#chat li:has-text("sent during the outage")');
    // Acknowledged: the queued marker is gone.
    await alice.waitForSelector('#chat li[data-seq]:not(.queued):has-text("sent during the outage")');
    // A later message as a barrier: anything duplicated would have arrived before it.
    await say(alice, "after the restart");
    await bob.waitForSelector('#chat li:has-text("after the restart")');
    await alice.waitForSelector('#chat li[data-seq]:has-text("after the restart")');
    assert.equal(await linesSaying(bob, "sent during the outage"), 1);
    assert.equal(await linesSaying(alice, "sent during the outage"), 1);
    await alice.waitForSelector('#chat li.note:has-text("reconnected")');
  }));

test("simulate network loss: the peer stays listed (linger), comes back, and misses nothing", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-3");
    await waitState(bob, "open");
    assert.equal((await bob.textContent("#drop")).trim(), "Simulate network loss");
    const [leftBefore, joinedBefore] = [await notes(alice, "left", "bob"), await notes(alice, "joined", "bob")];
    const before = await reconnects(bob);
    await bob.click("#drop");
    await waitReconnecting(bob, before);
    await say(alice, "while bob was away");
    await waitState(bob, "open");
    await bob.waitForSelector('#chat li:has-text("while bob was away")');
    assert.equal(await linesSaying(bob, "while bob was away"), 1);
    // A line from bob after his return as a barrier: alice has seen everything before it.
    await sayStored(bob, "bob is back");
    await alice.waitForSelector('#chat li:has-text("bob is back")');
    // An abrupt drop is not a leave: alice never saw bob leave or join again.
    assert.deepEqual(await presence(alice), ["alice", "bob"]);
    assert.equal(await notes(alice, "left", "bob"), leftBefore, "no 'bob left' line");
    assert.equal(await notes(alice, "joined", "bob"), joinedBefore, "no new 'bob joined' line");
  }));

test("leave and join again: the others see the leave and the return", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-leave");
    await bob.click("#leave");
    await bob.waitForSelector("#left-screen", { state: "visible" });
    assert.equal(await bob.isHidden("#app"), true, "no dead board behind 'you left'");
    await alice.waitForSelector('#presence li[data-user="bob"]', { state: "detached" });
    await alice.waitForSelector('#chat li.note[data-event="left"][data-user="bob"]');
    await bob.click("#rejoin");
    await alice.waitForSelector('#presence li[data-user="bob"]');
    await alice.waitForSelector('#chat li.note[data-event="joined"][data-user="bob"]');
    await bob.waitForSelector('#presence li[data-user="alice"]');
    await say(bob, "back again");
    await alice.waitForSelector('#chat li:has-text("back again")');
  }));

test("a bad token shows a clear error once, no dead app, and does not retry", () =>
  withServer(async (server) => {
    const page = await open(server, "mallory", "room-4", { query: "&token=forged" });
    await page.waitForSelector('#error[data-code="unauthorized"]:not([hidden])');
    const error = await page.textContent("#error-text");
    assert.match(error, /sign-in token/, `the page says why, in plain words: ${error}`);
    assert.doesNotMatch(error, /unauthorized/, "no developer words");
    await waitState(page, "closed");
    assert.equal(await page.textContent("#badge"), "Signed out");
    await page.waitForSelector("#signed-out", { state: "visible" });
    for (const hidden of ["#app", "#board", "#chat", "#say", "#actions", "#pick"]) {
      assert.equal(await page.isHidden(hidden), true, `${hidden} is hidden`);
    }
    // Closed for good: no second connection attempt follows.
    await assert.rejects(page.waitForEvent("websocket", { timeout: 2_000 }), /Timeout/);
    assert.equal(page.sockets.length, 1, "one connection attempt, no retry loop");
  }));

test("the name picker: nothing of the app shows behind it; Enter joins", () =>
  withServer(async (server) => {
    const page = await open(server, null, "room-pick");
    await page.waitForSelector("#pick", { state: "visible" });
    const visible = await page.$$eval("#app, #app *, #actions, #actions *, #left-screen, #signed-out, #error", (els) =>
      els.filter((el) => el.checkVisibility()).map((el) => el.id || el.className || el.tagName),
    );
    assert.deepEqual(visible, [], "no element of the app is visible behind the name picker");
    await page.fill("#name", "carol");
    await page.press("#name", "Enter");
    await page.waitForSelector('#presence li[data-user="carol"] .you');
    assert.equal(await page.isHidden("#pick"), true);
    await waitState(page, "open");
  }));

test("Enter in the chat sends the line without reloading the page", () =>
  withServer(async (server) => {
    const page = await open(server, "dave", "room-enter");
    await waitState(page, "open");
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    await say(page, "sent with Enter");
    await page.waitForSelector('#chat li.own[data-seq]:has-text("sent with Enter")');
    assert.equal(await page.evaluate(() => window.notReloaded), true, "the page did not reload");
    assert.equal(await page.inputValue("#text"), "", "the input is cleared");
  }));

test("typing: the others see 'typing…' while one types, and it clears after a pause", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-typing");
    await alice.locator("#text").pressSequentially("hel");
    await bob.waitForSelector('#presence li[data-user="alice"][data-typing="true"]:has-text("typing…")');
    await bob.waitForFunction(() => document.getElementById("typing")?.textContent === "alice is typing…");
    // Alice's own page does not tell her she is typing.
    assert.equal(await alice.locator("#presence .typing").count(), 0);
    // She stops: after the pause, it is gone.
    await bob.waitForSelector('#presence li[data-user="alice"][data-typing="false"]');
    await bob.waitForFunction(() => document.getElementById("typing")?.textContent === "");
    // Typing again and sending clears it at once.
    await alice.locator("#text").pressSequentially("lo");
    await bob.waitForSelector('#presence li[data-user="alice"][data-typing="true"]');
    await alice.press("#text", "Enter");
    await bob.waitForSelector('#chat li:has-text("hello")');
    await bob.waitForSelector('#presence li[data-user="alice"][data-typing="false"]');
  }));

test("load earlier: pages of history before the replayed lines, each line once, in order", () =>
  withServer(async (server) => {
    const alice = await open(server, "alice", "room-history", { query: "&history=3" });
    await waitState(alice, "open");
    const lines = Array.from({ length: 8 }, (_, i) => `line ${i + 1}`);
    for (const line of lines) await sayStored(alice, line);

    const bob = await open(server, "bob", "room-history", { query: "&history=3" });
    await bob.waitForFunction(() => document.querySelectorAll("#chat li[data-seq]").length === 3);
    assert.deepEqual(await chatTexts(bob), lines.slice(5));
    await bob.click("#load-earlier");
    await bob.waitForFunction(() => document.querySelectorAll("#chat li[data-seq]").length === 6);
    assert.deepEqual(await chatTexts(bob), lines.slice(2));
    await bob.click("#load-earlier");
    await bob.waitForFunction(() => document.querySelectorAll("#chat li[data-seq]").length === 8);
    assert.deepEqual(await chatTexts(bob), lines);
    await bob.waitForSelector("#load-earlier", { state: "hidden" });
    const seqs = await bob.$$eval("#chat li[data-seq]", (lis) => lis.map((li) => Number(li.dataset.seq)));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in seq order");
  }));

test("a reader who scrolled up gets a 'new messages' pill instead of a jump", () =>
  withServer(async (server) => {
    const { alice, bob } = await aliceAndBob(server, "room-pill", { bob: { viewport: { width: 390, height: 844 } } });
    for (let i = 1; i <= 14; i++) await sayStored(alice, `filler ${i}`);
    await bob.waitForSelector('#chat li:has-text("filler 14")');
    assert.ok(
      await bob.$eval("#chat-scroll", (el) => el.scrollHeight > el.clientHeight),
      "the chat overflows its box",
    );
    await bob.$eval("#chat-scroll", (el) => {
      el.scrollTop = 0;
    });
    await say(alice, "while bob reads");
    await bob.waitForSelector('#chat li:has-text("while bob reads")');
    await bob.waitForSelector("#new-messages", { state: "visible" });
    assert.equal(await bob.$eval("#chat-scroll", (el) => el.scrollTop), 0, "bob's reading position is kept");
    await bob.click("#new-messages");
    await bob.waitForSelector("#new-messages", { state: "hidden" });
    await bob.waitForFunction(() => {
      const el = document.getElementById("chat-scroll");
      return el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    });
  }));

test("the footer's connection count follows the server", () =>
  withServer(async (server) => {
    const alice = await open(server, "alice", "room-count");
    await alice.waitForSelector('#server[data-connections="1"]:has-text("1 connection")');
    const bob = await open(server, "bob", "room-count");
    await alice.waitForSelector('#server[data-connections="2"]:has-text("2 connections")');
    await bob.close();
    await alice.waitForSelector('#server[data-connections="1"]');
  }));

test("screenshots at 1280×800 and 390×844; the board is usable on a phone", () =>
  withServer(async (server) => {
    await mkdir(OUTPUT, { recursive: true });
    const picker = await open(server, null, "room-shots", { viewport: { width: 390, height: 844 } });
    await picker.waitForSelector("#pick", { state: "visible" });
    await picker.screenshot({ path: join(OUTPUT, "demo-picker-390x844.png") });

    const { alice, bob } = await aliceAndBob(server, "room-shots", {
      alice: { viewport: { width: 1280, height: 800 } },
      bob: { viewport: { width: 390, height: 844 } },
    });
    await sayStored(alice, "Hi! Move your pointer over the board");
    await sayStored(bob, "On my phone, I can see your cursor");
    await alice.mouse.move(...(await boardPoint(alice, 0.35, 0.4)));
    await bob.mouse.move(...(await boardPoint(bob, 0.7, 0.55)));
    await waitCursorAt(bob, "alice", 0.35, 0.4);
    await waitCursorAt(alice, "bob", 0.7, 0.55);
    await alice.locator("#text").pressSequentially("typing a reply");
    await bob.waitForSelector('#presence li[data-user="alice"][data-typing="true"]');

    for (const [page, width, height] of [
      [alice, 1280, 800],
      [bob, 390, 844],
    ]) {
      const layout = await page.evaluate(() => ({
        board: document.getElementById("board").getBoundingClientRect().width,
        boardHeight: document.getElementById("board").getBoundingClientRect().height,
        scrollWidth: document.documentElement.scrollWidth,
      }));
      assert.ok(layout.scrollWidth <= width, `no sideways scrolling at ${width} px (${layout.scrollWidth})`);
      assert.ok(layout.board >= width * 0.5, `the board is ${layout.board} px wide at ${width} px`);
      assert.ok(layout.boardHeight >= 200, `the board is ${layout.boardHeight} px high at ${width} px`);
      await page.evaluate(() => window.scrollTo(0, 0));
      const path = join(OUTPUT, `demo-${width}x${height}.png`);
      await page.screenshot({ path });
      const full = join(OUTPUT, `demo-${width}x${height}-full.png`);
      await page.screenshot({ path: full, fullPage: true });
      console.log(`screenshots: ${path}, ${full}`);
    }
  }));
