#!/usr/bin/env node
// Benchmark figure 5, the stream: publishes N small messages to a room as fast as the socket
// takes them, then waits for the server's N acks and exits.
//
//   node --experimental-websocket publish.mjs --url ws://127.0.0.1:PORT --room R --count N
//
// Node 20 needs --experimental-websocket for its global WebSocket (built in from Node 22);
// without a global WebSocket it falls back to the `ws` package if one resolves.
// Prints one JSON line on success:
//   {"publisher":"node","count":N,"ms":...,"messages_per_s":...}   (first send to last ack)
// Exits 1 with a message on stderr on any error, or after TIMEOUT_MS (default 60000).

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    room: { type: "string" },
    count: { type: "string" },
  },
});
const url = values.url;
const room = values.room;
const count = Number(values.count);
if (!url || !room || !Number.isInteger(count) || count < 1) {
  console.error("usage: publish.mjs --url ws://HOST:PORT/ --room R --count N");
  process.exit(2);
}
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 60_000);

let WS = globalThis.WebSocket;
if (WS === undefined) {
  try {
    WS = (await import("ws")).default;
  } catch {
    console.error("publish.mjs: no global WebSocket (run node with --experimental-websocket) and no `ws` package");
    process.exit(2);
  }
}

function die(message) {
  console.error(`publish.mjs: ${message}`);
  process.exit(1);
}

const timer = setTimeout(() => die(`timed out after ${timeoutMs} ms (${acks}/${count} acks)`), timeoutMs);

/** The payload: about 60 characters, distinct per message. */
const payload = (i) => `message ${i} `.padEnd(60, "abcdefghijklmnopqrstuvwxyz0123456789");

let acks = 0;
let t0 = 0;
let done = false;

const ws = new WS(url, ["tandem.v1.json"]);
ws.onopen = () => {
  if (ws.protocol !== "tandem.v1.json") die(`server selected subprotocol ${JSON.stringify(ws.protocol)}`);
  ws.send(JSON.stringify({ v: 1, k: "hello", app: { name: "default", versions: [1] } }));
};
ws.onmessage = (ev) => {
  const frame = JSON.parse(typeof ev.data === "string" ? ev.data : String(ev.data));
  switch (frame.k) {
    case "welcome":
      ws.send(JSON.stringify({ v: 1, k: "join", id: 1, room }));
      break;
    case "joined":
      if (frame.id !== 1) break;
      t0 = performance.now();
      for (let i = 1; i <= count; i++) {
        ws.send(JSON.stringify({ v: 1, k: "publish", id: i + 1, room, data: payload(i) }));
      }
      break;
    case "ack":
      acks += 1;
      if (acks === count) {
        const ms = performance.now() - t0;
        done = true;
        clearTimeout(timer);
        console.log(JSON.stringify({ publisher: "node", count, ms, messages_per_s: count / (ms / 1000) }));
        ws.close(1000);
      }
      break;
    case "ping":
      ws.send('{"v":1,"k":"pong"}');
      break;
    case "error":
      die(`server error ${JSON.stringify(frame)}`);
      break;
    default:
      break; // event (our own publishes), presence, pong
  }
};
ws.onerror = (ev) => {
  if (!done) die(`WebSocket error ${ev.message ?? ev.error ?? ""}`);
};
ws.onclose = (ev) => {
  if (!done) die(`WebSocket closed ${ev.code} ${ev.reason} (${acks}/${count} acks)`);
  process.exit(0);
};
