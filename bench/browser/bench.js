// Benchmark figure 5, the page: receives a stream of small messages from `tandem serve` and
// measures how many per second reach JavaScript.
//
//   ?mode=sdk    through the npm package (tandem-sdk, copied next to this page as ./pkg/):
//                Client.connect + client.join + room.on("message")
//   ?mode=plain  a bare WebSocket (subprotocol tandem.v1.json) + JSON.parse of every frame
//   &room=R      the room to join
//   &count=N     messages to wait for
//
// Reports through globals that the driver (run.mjs) polls:
//   window.benchReady  = true once the room is joined (the publisher may start)
//   window.benchResult = { mode, count, ms, messagesPerSecond }
//                        ms: performance.now() at message N minus at message 1;
//                        messagesPerSecond = (count - 1) / (ms / 1000) (count - 1 intervals)
//   window.benchError  = String(err) on any failure
//
// Backlog variant (run.mjs SCENARIOS=backlog): once joined, the driver calls
// window.benchHold("/release-....txt"). The page then keeps its main thread busy (so no
// message is delivered; they queue in the browser, the kernel and the server) polling that
// path with synchronous XHRs until the driver creates the file, after the publisher is done.
// The clock then starts at the release instead of at message 1, and
// messagesPerSecond = count / (ms / 1000): the rate at which the page drains a backlog,
// free of the publisher's and the server's pace.

const params = new URLSearchParams(location.search);
const mode = params.get("mode");
const room = params.get("room");
const count = Number(params.get("count"));
const url = `ws://${location.host}/`;

const status = document.getElementById("status");
const show = (text) => {
  status.textContent = text;
};

// Sum of the payload lengths: keeps the `data` access observable so no engine can drop it.
window.benchChecksum = 0;

let received = 0;
let t0 = 0;
let finished = false;
let released = false; // backlog variant: the hold ended, the clock runs since t0

function fail(err) {
  if (finished) return;
  finished = true;
  const text = err instanceof Error ? `${err.name}: ${err.message}${err.code ? ` (code ${err.code})` : ""}` : String(err);
  window.benchError = text;
  show(`error: ${text}`);
}

function finish() {
  const ms = performance.now() - t0;
  finished = true;
  const intervals = released ? count : count - 1;
  const messagesPerSecond = intervals > 0 ? intervals / (ms / 1000) : NaN;
  window.benchResult = { mode, count, ms, messagesPerSecond, backlog: released };
  show(JSON.stringify(window.benchResult));
}

/** One delivered message: `data` is the payload. Returns true once the N-th arrived. */
function onMessage(data) {
  if (finished) return;
  window.benchChecksum += data.length;
  received += 1;
  if (received === 1 && !released) t0 = performance.now();
  if (received === count) finish();
}

function ready() {
  window.benchReady = true;
  show(`${mode}: joined ${room}, waiting for ${count} messages`);
}

const HOLD_LIMIT_MS = 60_000;
const HOLD_POLL_MS = 20;

/** Backlog variant: blocks the main thread until `releasePath` exists, then starts the clock. */
window.benchHold = (releasePath) => {
  setTimeout(() => {
    if (received !== 0) {
      fail(new Error(`${received} messages arrived before the hold began`));
      return;
    }
    const start = performance.now();
    for (let i = 0; ; i++) {
      const spin = performance.now() + HOLD_POLL_MS;
      while (performance.now() < spin) {
        // busy: the point is that no task (no WebSocket message) runs meanwhile
      }
      const xhr = new XMLHttpRequest();
      xhr.open("GET", `${releasePath}?poll=${i}`, false);
      xhr.send();
      if (xhr.status === 200) break;
      if (performance.now() - start > HOLD_LIMIT_MS) {
        fail(new Error(`not released within ${HOLD_LIMIT_MS} ms`));
        return;
      }
    }
    window.benchHeldMs = performance.now() - start;
    if (received !== 0) {
      fail(new Error(`${received} messages were delivered during the hold`));
      return;
    }
    released = true;
    t0 = performance.now();
  }, 0);
};

async function runSdk() {
  const { Client } = await import("./pkg/index.js");
  const client = await Client.connect(url);
  window.benchClient = client;
  client.on("error", (err) => fail(err));
  client.on("state", (state) => {
    if (!finished && state.kind !== "open") fail(new Error(`connection state ${JSON.stringify(state)}`));
  });
  const joined = await client.join(room, {});
  window.benchRoom = joined;
  joined.on("message", ({ data }) => onMessage(data));
  ready();
}

function runPlain() {
  const ws = new WebSocket(url, ["tandem.v1.json"]);
  window.benchSocket = ws;
  ws.onopen = () => {
    ws.send(JSON.stringify({ v: 1, k: "hello", app: { name: "default", versions: [1] } }));
  };
  ws.onmessage = (ev) => {
    const frame = JSON.parse(ev.data);
    switch (frame.k) {
      case "event":
        if (frame.room === room) onMessage(frame.data);
        break;
      case "welcome":
        ws.send(JSON.stringify({ v: 1, k: "join", id: 1, room }));
        break;
      case "joined":
        if (frame.id === 1) ready();
        break;
      case "ping":
        ws.send('{"v":1,"k":"pong"}');
        break;
      case "error":
        fail(new Error(`server error ${ev.data}`));
        break;
      default:
        break; // presence, pong, ...
    }
  };
  ws.onerror = () => fail(new Error("WebSocket error"));
  ws.onclose = (ev) => {
    if (!finished) fail(new Error(`WebSocket closed ${ev.code} ${ev.reason}`));
  };
}

async function main() {
  if (!room || !Number.isInteger(count) || count < 1) throw new Error(`bad parameters ${location.search}`);
  show(`${mode}: connecting to ${url}`);
  if (mode === "sdk") await runSdk();
  else if (mode === "plain") runPlain();
  else throw new Error(`unknown mode ${mode}`);
}

window.addEventListener("error", (ev) => fail(ev.error ?? ev.message));
window.addEventListener("unhandledrejection", (ev) => fail(ev.reason));
main().catch(fail);
