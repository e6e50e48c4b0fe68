// A consumer of the npm package: it must type-check, and each `@ts-expect-error` below
// must be an error (tsc fails on an unused one), so a wrong payload shape cannot slip by.

import { Client, type MessageEvent, type State } from "tandem-sdk";
import type { DemoMessage } from "../src/generated/DemoMessage";
import type { DemoReply } from "../src/generated/DemoReply";
import type { DemoRequest } from "../src/generated/DemoRequest";
import type { Profile } from "../src/generated/Profile";

export async function consumer(): Promise<void> {
  const client = await Client.connect<DemoMessage, Profile>("ws://127.0.0.1:8080", {
    token: "guest:ada",
    protocols: ["tandem.v1.json"],
    backoff: { initialMs: 100, maxAttempts: 5 },
  });
  const room = await client.join("lobby", { meta: { color: "red", typing: false }, history: 10 });
  const seq: number = await room.publish({ kind: "chat", text: "hi" });
  await room.publish({ kind: "chat", text: "hi", at: Date.now() });
  await room.publish({ kind: "cursor", x: 0.5, y: 0.5 });

  // @ts-expect-error: a chat line needs its text
  await room.publish({ kind: "chat" });
  // @ts-expect-error: there is no such kind of message
  await room.publish({ kind: "shout", text: "hi" });
  // @ts-expect-error: a cursor's x is a number
  await room.publish({ kind: "cursor", x: "left", y: 0 });
  // @ts-expect-error: presence metadata is a Profile
  await client.join("other", { meta: { colour: "red" } });
  // @ts-expect-error: history is a count
  await client.join("other", { history: "all" });

  room.on("message", (e: MessageEvent<DemoMessage>) => {
    if (e.data.kind === "cursor") {
      const x: number = e.data.x;
      void x;
    }
  });
  // @ts-expect-error: rooms have no such event
  room.on("mesage", () => {});
  room.on("presence", (e) => {
    const color: string | undefined = e.joined[0]?.meta?.color;
    void color;
  });

  const reply = await room.request<DemoReply, DemoRequest>({ kind: "server_info" });
  const connections: number = reply.connections;
  // @ts-expect-error: not a DemoRequest
  await room.request<DemoReply, DemoRequest>({ kind: "server_time" });

  const state: State = client.state;
  if (state.kind === "reconnecting") {
    // `null` while the browser is offline, as the runtime gives it; never `undefined`.
    const delay: number | null = state.delayMs;
    // @ts-expect-error: null is not undefined
    const wrong: number | undefined = state.delayMs;
    void delay;
    void wrong;
  }
  client.on("error", (e) => console.log(e.code, e.message));
  client.dropConnection();
  await client.close();
  void seq;
  void connections;
}
