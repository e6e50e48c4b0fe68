// Bad input from a tandem client written from PROTOCOL.md with the npm `ws` package.
//
// Usage: node bad_input.mjs <ws-url> <token> <room>
//
// Says hello, then sends what PROTOCOL.md §2 and §8.2 answer in a documented way: an
// unknown kind with an id that is not an integer, a publish whose payload gives a key
// twice, an `update` with an id or a room of the wrong type or to a room not joined, a
// `history` whose limit is not an integer, and a text message that is not UTF-8. Prints
// one JSON line per answer; exits 0 when every answer came, 1 on any error, 2 on timeout.

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
let stage = "hello";

ws.on("error", fail);
ws.on("close", (code, reason) => {
  if (stage !== "utf8") fail(`closed ${code} ${reason} at ${stage}`);
  // §1: a text message that is not UTF-8 closes with 1007 and a reason.
  say({ step: "invalid_utf8", code, reason: reason.toString() });
  process.exit(0);
});
ws.on("open", () => {
  send({ k: "hello", app: { name: "default", versions: [1] }, token });
});
ws.on("message", (raw) => {
  const frame = JSON.parse(raw.toString());
  if (frame.k === "ping") return send({ k: "pong" });
  if (stage === "hello" && frame.k === "welcome") {
    // §2: `k` is checked before the other fields; an id that is not an integer is no id.
    stage = "kind";
    ws.send('{"v":1,"k":"nope","id":"x"}');
  } else if (stage === "kind" && frame.k === "error") {
    say({ step: "unknown_kind", code: frame.code, has_id: "id" in frame, message: frame.message });
    stage = "join";
    send({ k: "join", id: 1, room });
  } else if (stage === "join" && frame.k === "joined") {
    // §2: a key given twice, in a payload too, makes the frame malformed.
    stage = "twice";
    ws.send(`{"v":1,"k":"publish","id":2,"room":${JSON.stringify(room)},"data":{"a":1,"a":2}}`);
  } else if (stage === "twice" && frame.k === "error") {
    say({ step: "duplicate_keys", code: frame.code, message: frame.message });
    // update: an id that is not an integer is no id; a room must be a string; and a room
    // this connection has not joined is refused with `not_joined`.
    stage = "update_id";
    send({ k: "update", id: "x", room, meta: { a: 1 } });
  } else if (stage === "update_id" && frame.k === "error") {
    const { code, message } = frame;
    say({ step: "update_id_type", code, has_id: "id" in frame, message });
    stage = "update_room";
    send({ k: "update", id: 3, room: 7, meta: { a: 1 } });
  } else if (stage === "update_room" && frame.k === "error") {
    const { code, id = null, message } = frame;
    say({ step: "update_room_type", code, id, message });
    stage = "update_not_joined";
    send({ k: "update", id: 4, room: `${room}/elsewhere`, meta: { a: 1 } });
  } else if (stage === "update_not_joined" && frame.k === "error") {
    const { code, id = null, room: where = null } = frame;
    say({ step: "update_not_joined", code, id, room: where });
    // history: a limit that is not an integer.
    stage = "history_limit";
    send({ k: "history", id: 5, room, limit: "x" });
  } else if (stage === "history_limit" && frame.k === "error") {
    const { code, id = null, message } = frame;
    say({ step: "history_limit_type", code, id, message });
    stage = "utf8";
    ws.send(Buffer.from('{"v":1,"k":"ping","x":"\xff"}', "latin1"), { binary: false });
  }
});
