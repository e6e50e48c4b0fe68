// The npm package under Node (run with --experimental-websocket on Node 20): two clients
// of a real `tandem serve` use the collaboration API, and the outcome is printed as one
// JSON line. Usage: node --experimental-websocket client.mjs <ws url> <token a> <token b>
import { Client } from "tandem-sdk";

const [url, tokenA, tokenB] = process.argv.slice(2);
const a = await Client.connect(url, { token: tokenA, timeoutMs: 10_000 });
const b = await Client.connect(url, { token: tokenB, timeoutMs: 10_000 });
const ra = await a.join("node-room", { meta: { where: "node" } });
const rb = await b.join("node-room");
const message = new Promise((resolve) => rb.once("message", resolve));
const seq = await ra.publish({ text: "from node" });
const got = await message;
const ephemeral = new Promise((resolve) => rb.once("ephemeral", resolve));
await ra.broadcast({ cursor: [1, 2] });
const cursor = await ephemeral;
const updated = new Promise((resolve) => rb.once("presence", resolve));
await ra.setPresence({ where: "still node" });
const presence = await updated;
const page = await rb.history({ limit: 10 });
console.log(
  JSON.stringify({
    user: a.user,
    seq,
    got: got.data,
    cursor: cursor.data,
    updated: presence.updated,
    members: rb.members.map((m) => m.user),
    page: page.messages.map((m) => m.data),
  }),
);
await a.close();
await b.close();
