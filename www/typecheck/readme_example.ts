// The README's TypeScript example, type-checked by `tsc --noEmit` (cargo xtask test);
// an xtask test keeps the two identical.

import { Client } from "tandem-sdk";
import type { DemoMessage } from "../src/generated/DemoMessage"; // generated from Rust

const client = await Client.connect<DemoMessage>("ws://127.0.0.1:8080", { token: "guest:ada" });
client.on("state", (state) => console.log("connection:", state.kind));
const room = await client.join("lobby", { history: 20 });
room.on("message", ({ from, data }) => {
  if (data.kind === "chat") console.log(`${from}: ${data.text}`);
});
await room.publish({ kind: "chat", text: "hi" }); // `{ kind: "chat" }` would not compile

export {};
