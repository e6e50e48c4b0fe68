// Plain `ws` peer server for `cargo xtask bench`.
//
//   node ws_server.mjs --addr 127.0.0.1:0
//
// Text frames only: a frame starting with `b` is broadcast verbatim to every
// other open client; a frame starting with `e` is echoed to the sender;
// everything else is ignored.
import { WebSocketServer, WebSocket } from "ws";
import { serve } from "./listen.mjs";

const B = 0x62; // 'b'
const E = 0x65; // 'e'

serve("ws_server", (server) => {
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

  return (done) => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.close(done);
  };
});
