// What both peer servers share: an HTTP server on `--addr HOST:PORT` (port 0: a free one)
// with backlog 4096 like the Rust servers, the `listening on ws://…` line the benchmark
// waits for, and a clean exit on SIGTERM/SIGINT.
import http from "node:http";

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

/** An HTTP server for `name`; `attach(server)` mounts the WebSocket server on it and
 *  returns its `close(done)`. Listens once attached. */
export function serve(name, attach) {
  const { host, port } = parseAddr(process.argv.slice(2));
  const server = http.createServer();
  const close = attach(server);
  server.on("error", (err) => {
    console.error(`${name}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, 4096, () => {
    const a = server.address();
    const h = a.family === "IPv6" || a.family === 6 ? `[${a.address}]` : a.address;
    process.stdout.write(`listening on ws://${h}:${a.port}\n`);
  });
  const shutdown = () => {
    close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
