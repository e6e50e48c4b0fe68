// A tandem client written from PROTOCOL.md with the npm `ws` package.
//
// Usage: node peer.mjs <ws-url> <token> <room>
//
// Connects offering the tandem.v1.json subprotocol, says hello with the token, joins the
// room (reporting the policy `joined` announces), publishes {"n": 1, "text": "from node"},
// and waits for two messages from another user. Then it uses the collaboration frames:
// `update` of its presence meta (an `ack` without seq and a `presence` with `updated`), an
// ephemeral publish asking for an `ack` (no seq; never echoed to itself), waits for an
// ephemeral message from another user (an `event` without seq), and reads the room's
// `history`: whole, then in pages of 2 going back with `before`, then for a room nobody
// used. Prints one JSON line per step; exits 0 when every step happened, 1 on any error,
// 2 on timeout.

import WebSocket from "ws";

const PROTOCOL = "tandem.v1.json";
const [url, token, room] = process.argv.slice(2);
const say = (step) => console.log(JSON.stringify(step));
const fail = (error) => {
  say({ step: "failed", error: String(error) });
  process.exit(1);
};
setTimeout(() => {
  say({ step: "timeout" });
  process.exit(2);
}, 15000).unref();

const ws = new WebSocket(url, [PROTOCOL, "tandem"]);
const send = (frame) => ws.send(JSON.stringify({ v: 1, ...frame }));
let me = null;
let stage = "hello";
let others = 0;
const got = {};
let echoed = false;
let query = null;

// What a step reports of a page: its events (seq, from, room, n), epoch and more.
const stored = (page) => ({
  room: page.room,
  epoch: page.epoch,
  events: page.events.map((e) => ({
    seq: e.seq ?? null,
    from: e.from ?? null,
    room: e.room,
    n: e.data.n,
  })),
  more: page.more,
});
const history = (id, target, q) => {
  query = q;
  send({ k: "history", id, room: target, ...q });
};

ws.on("error", fail);
ws.on("close", (code, reason) => {
  if (stage === "done") process.exit(0);
  fail(`closed ${code} ${reason} at ${stage}`);
});
ws.on("open", () => {
  if (ws.protocol !== PROTOCOL) fail(`negotiated ${ws.protocol}`);
  say({ step: "negotiated", protocol: ws.protocol });
  send({ k: "hello", app: { name: "default", versions: [1] }, token });
});
ws.on("message", (raw, isBinary) => {
  if (isBinary) fail("binary frame");
  const frame = JSON.parse(raw.toString());
  if (frame.k === "ping") return send({ k: "pong" });
  if (frame.k === "error") return fail(`server error ${JSON.stringify(frame)}`);
  if (stage === "hello" && frame.k === "welcome") {
    me = frame.user;
    say({ step: "welcome", user: me });
    stage = "join";
    send({ k: "join", id: 1, room });
  } else if (stage === "join" && frame.k === "joined") {
    say({
      step: "joined",
      members: frame.presence.map((m) => m.user).sort(),
      epoch: frame.epoch,
      policy: frame.policy ?? null,
    });
    stage = "publish";
    send({ k: "publish", id: 2, room, data: { n: 1, text: "from node" } });
  } else if (stage === "publish" && frame.k === "ack") {
    say({ step: "ack", seq: frame.seq });
    stage = "events";
  } else if (stage === "events" && frame.k === "event" && frame.from !== me) {
    say({ step: "event", sender: frame.from, data: frame.data, seq: frame.seq ?? null });
    if (++others < 2) return;
    // update: the ack has no seq; every subscriber, this connection too, gets `updated`.
    stage = "update";
    send({ k: "update", id: 3, room, meta: { cursor: { x: 3, y: 4 }, by: "node" } });
  } else if (stage === "update") {
    if (frame.k === "ack" && frame.id === 3) got.ack = frame;
    if (frame.k === "presence" && frame.updated?.length) got.presence = frame;
    if (!got.ack || !got.presence) return;
    say({ step: "update_ack", id: got.ack.id, has_seq: "seq" in got.ack });
    say({ step: "presence_updated", room: got.presence.room, updated: got.presence.updated });
    // An ephemeral publish asking for an ack: the ack has no seq, the message goes to the
    // other connections only; then the other user's ephemeral message, without seq.
    stage = "ephemeral";
    got.ack = null;
    const data = { n: 4, text: "ephemeral from node" };
    send({ k: "publish", id: 4, room, data, ephemeral: true, ack: true });
  } else if (stage === "ephemeral") {
    if (frame.k === "ack" && frame.id === 4) got.ack = frame;
    if (frame.k === "event" && frame.from === me) echoed = true;
    else if (frame.k === "event") got.other = frame;
    if (!got.ack || !got.other) return;
    say({ step: "ephemeral_ack", id: got.ack.id, has_seq: "seq" in got.ack, echoed });
    const { from, data } = got.other;
    say({ step: "ephemeral_event", sender: from, data, has_seq: "seq" in got.other });
    // history: the whole room, then pages of 2 from the newest back, then nowhere.
    stage = "history";
    history(5, room, {});
  } else if (stage === "history" && frame.k === "page" && frame.id === 5) {
    say({ step: "history", ...stored(frame) });
    stage = "pages";
    history(6, room, { limit: 2 });
  } else if (stage === "pages" && frame.k === "page") {
    say({ step: "page", query, ...stored(frame) });
    if (frame.more && frame.events.length && frame.id < 10) {
      history(frame.id + 1, room, { before: frame.events[0].seq, limit: 2 });
    } else {
      stage = "unknown";
      history(11, `${room}/nobody-here`, {});
    }
  } else if (stage === "unknown" && frame.k === "page" && frame.id === 11) {
    say({ step: "unknown_room_page", ...stored(frame) });
    stage = "done";
    ws.close(1000, "done");
  }
});
