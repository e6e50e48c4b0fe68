// Socket.IO 4.8 peer server for `cargo xtask bench`.
//
//   node socketio_server.mjs --addr 127.0.0.1:0
//
// Clients connect at ws://HOST:PORT/socket.io/?EIO=4&transport=websocket.
// Events: "join"(room, ack) joins a room and acks with no arguments;
// "pub"(room, data) emits "msg"(data) to everyone else in the room;
// "echo"(data, ack) acks with data.
import http from "node:http";
import { Server } from "socket.io";

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

const { host, port } = parseAddr(process.argv.slice(2));
const server = http.createServer();
const io = new Server(server, {
  transports: ["websocket"],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 65536,
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("pub", (room, data) => {
    socket.to(room).emit("msg", data);
  });
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

server.on("error", (err) => {
  console.error(`socketio_server: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, 4096, () => {
  const a = server.address();
  const h = a.family === "IPv6" || a.family === 6 ? `[${a.address}]` : a.address;
  process.stdout.write(`listening on ws://${h}:${a.port}\n`);
});

function shutdown() {
  io.close(() => process.exit(0)); // disconnects all sockets and closes the http server
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
