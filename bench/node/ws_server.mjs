// Plain `ws` peer server for `cargo xtask bench`.
//
//   node ws_server.mjs --addr 127.0.0.1:0
//
// Text frames only: a frame starting with `b` is broadcast verbatim to every
// other open client; a frame starting with `e` is echoed to the sender;
// everything else is ignored.
import http from "node:http";
import { WebSocketServer, WebSocket } from "ws";

function parseAddr(argv) {
  let addr = "127.0.0.1:0";
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--addr" && i + 1 < argv.length) addr = argv[++i];
    else if (argv[i].startsWith("--addr=")) addr = argv[i].slice(7);
  }
  const idx = addr.lastIndexOf(":");
  if (idx < 0) throw new Error(`bad --addr ${addr}, expected host:port`);
  const host = addr.slice(0, idx).replace(/^\[(.*)\]$/, "$1");
  const port = Number(addr.slice(idx + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in --addr ${addr}`);
  return { host, port };
}

const B = 0x62; // 'b'
const E = 0x65; // 'e'

const { host, port } = parseAddr(process.argv.slice(2));
const server = http.createServer();
const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
  clientTracking: true,
});

wss.on("connection", (ws) => {
  ws.on("error", () => {}); // e.g. maxPayload exceeded; the socket is closed by ws
  ws.on("message", (data, isBinary) => {
    if (isBinary || data.length === 0) return;
    const first = data[0];
    if (first === B) {
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: false });
        }
      }
    } else if (first === E) {
      ws.send(data, { binary: false });
    }
  });
});

server.on("error", (err) => {
  console.error(`ws_server: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, 4096, () => {
  const a = server.address();
  const h = a.family === "IPv6" || a.family === 6 ? `[${a.address}]` : a.address;
  process.stdout.write(`listening on ws://${h}:${a.port}\n`);
});

function shutdown() {
  for (const client of wss.clients) client.terminate();
  wss.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
