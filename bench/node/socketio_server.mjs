// Socket.IO 4.8 peer server for `cargo xtask bench`.
//
//   node socketio_server.mjs --addr 127.0.0.1:0
//
// Clients connect at ws://HOST:PORT/socket.io/?EIO=4&transport=websocket.
// Events: "join"(room, ack) joins a room and acks with no arguments;
// "pub"(room, data) emits "msg"(data) to everyone else in the room;
// "echo"(data, ack) acks with data.
import { Server } from "socket.io";
import { serve } from "./listen.mjs";

serve("socketio_server", (server) => {
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

  return (done) => io.close(done); // disconnects all sockets and closes the http server
});
