// Smoke test for both peer servers: `node selftest.mjs` (exit 0 = pass).
// Uses `ws` as the client; Socket.IO is spoken as raw Engine.IO v4 frames.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { WebSocket } from "ws";

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(cond, what) {
  if (!cond) throw new Error(`FAIL: ${what}`);
  log(`ok: ${what}`);
}

async function startServer(file) {
  const child = spawn(process.execPath, [new URL(file, import.meta.url).pathname, "--addr", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buf = "";
  for await (const chunk of child.stdout) {
    buf += chunk;
    const m = buf.match(/^listening on (ws:\/\/127\.0\.0\.1:\d+)\n/);
    if (m) return { child, url: m[1], line: m[0].trim() };
  }
  throw new Error(`${file} exited without listening line: ${JSON.stringify(buf)}`);
}

async function stopServer(child) {
  child.kill("SIGTERM");
  const [code, signal] = await once(child, "exit");
  check(code === 0 && signal === null, `server exited cleanly on SIGTERM (code ${code})`);
}

// A client that records every text frame it receives.
async function client(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.frames = [];
  ws.waiters = [];
  ws.on("message", (data, isBinary) => {
    let s = data.toString();
    if (isBinary) s = `<binary>${s}`;
    ws.frames.push(s);
    for (const w of ws.waiters.splice(0)) w();
  });
  await once(ws, "open");
  return ws;
}
// Wait for the next frame (by index) matching pred.
async function next(ws, from, pred = () => true, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = ws.frames.findIndex((f, idx) => idx >= from && pred(f));
    if (i >= 0) return ws.frames[i];
    if (Date.now() > deadline) throw new Error(`timeout waiting for frame; got ${JSON.stringify(ws.frames)}`);
    await Promise.race([new Promise((r) => ws.waiters.push(r)), sleep(50)]);
  }
}

async function testWs() {
  log("== ws_server.mjs");
  const { child, url, line } = await startServer("./ws_server.mjs");
  log(`stdout: ${line}`);
  const [a, b, c] = await Promise.all([client(url), client(url), client(url)]);
  a.send("bhello");
  log(`b got: ${await next(b, 0)}`);
  log(`c got: ${await next(c, 0)}`);
  check(b.frames[0] === "bhello" && c.frames[0] === "bhello", "others receive bhello");
  a.send("eping");
  const e = await next(a, 0);
  log(`a got: ${e}`);
  check(e === "eping", "eping echoed to sender");
  a.send("xignored");
  a.send("eping2");
  await next(a, 1);
  await sleep(100);
  check(JSON.stringify(a.frames) === '["eping","eping2"]', "sender never got its own broadcast, x ignored");
  check(b.frames.length === 1 && c.frames.length === 1, "others got nothing else");
  for (const ws of [a, b, c]) ws.close();
  await stopServer(child);
}

async function testSocketIo() {
  log("== socketio_server.mjs");
  const { child, url, line } = await startServer("./socketio_server.mjs");
  log(`stdout: ${line}`);
  const eio = `${url}/socket.io/?EIO=4&transport=websocket`;
  const [a, b] = await Promise.all([client(eio), client(eio)]);
  for (const [name, ws] of [["A", a], ["B", b]]) {
    const open = await next(ws, 0);
    log(`${name} open packet: ${open}`);
    check(/^0\{.*"sid":".+".*\}$/.test(open), `${name} open packet 0{...}`);
    ws.send("40");
    const conn = await next(ws, 1);
    log(`${name} connect reply: ${conn}`);
    check(/^40\{"sid":"[^"]+"\}$/.test(conn), `${name} connect reply 40{"sid":...}`);
    ws.send('420["join","bench"]');
    const ack = await next(ws, 2);
    log(`${name} join ack: ${ack}`);
    check(ack === "430[]", `${name} join ack 430[]`);
  }
  a.send('42["pub","bench","hello \\"x\\""]');
  const msg = await next(b, 3);
  log(`B got: ${msg}`);
  check(msg === '42["msg","hello \\"x\\""]', "B receives 42[\"msg\",...]");
  a.send('421["echo","ping"]');
  const echo = await next(a, 3);
  log(`A echo ack: ${echo}`);
  check(echo === '431["ping"]', 'echo ack 431["ping"]');
  await sleep(100);
  check(a.frames.length === 4 && !a.frames.some((f) => f.startsWith('42["msg"')), "A did not receive its own pub");
  check(b.frames.length === 4, "B got nothing else");
  for (const ws of [a, b]) ws.close();
  await stopServer(child);
}

await testWs();
await testSocketIo();
log("selftest passed");
