// A tandem client written from PROTOCOL.md with the npm `ws` package.
//
// Usage: node peer.mjs <ws-url> <token> <room>
//
// Connects offering the tandem.v1.json subprotocol, says hello with the token, joins the
// room, publishes {"n": 1, "text": "from node"}, and waits for a message from another
// user. Prints one JSON line per step; exits 0 when every step happened, 1 on any error,
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

ws.on("error", fail);
ws.on("close", (code, reason) => {
  if (me === "done") process.exit(0);
  fail(`closed ${code} ${reason}`);
});
ws.on("open", () => {
  if (ws.protocol !== PROTOCOL) fail(`negotiated ${ws.protocol}`);
  say({ step: "negotiated", protocol: ws.protocol });
  send({ k: "hello", app: { name: "default", versions: [1] }, token });
});
ws.on("message", (raw, isBinary) => {
  if (isBinary) fail("binary frame");
  const frame = JSON.parse(raw.toString());
  switch (frame.k) {
    case "ping":
      send({ k: "pong" });
      break;
    case "error":
      fail(`server error ${JSON.stringify(frame)}`);
      break;
    case "welcome":
      me = frame.user;
      say({ step: "welcome", user: me });
      send({ k: "join", id: 1, room });
      break;
    case "joined":
      say({ step: "joined", members: frame.presence.map((m) => m.user).sort() });
      send({ k: "publish", id: 2, room, data: { n: 1, text: "from node" } });
      break;
    case "ack":
      say({ step: "ack", seq: frame.seq });
      break;
    case "event":
      if (frame.from !== me && me !== "done") {
        say({ step: "event", sender: frame.from, data: frame.data, seq: frame.seq });
        me = "done";
        ws.close(1000, "done");
      }
      break;
  }
});
