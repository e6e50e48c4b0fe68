// The collaboration API of the npm package, as a consumer types it: it must type-check,
// and each `@ts-expect-error` below must be an error (tsc fails on an unused one).

import {
  Client,
  TandemError,
  type ErrorCode,
  type HistoryPage,
  type Member,
  type Position,
  type RoomEvent,
  type RoomPolicy,
} from "tandem-sdk";

type Cursor = { x: number; y: number };
type Meta = { color: string; typing?: boolean };
/** The requests this app declares: each query type tied to its reply type. */
type Requests =
  | { query: { kind: "time" }; reply: { now: number } }
  | { query: { kind: "echo"; text: string }; reply: { text: string } };

export async function collaboration(signal: AbortSignal): Promise<void> {
  const client = await Client.connect<Cursor, Meta, Requests>("ws://127.0.0.1:8080", {
    token: "guest:ada",
    signal,
    timeoutMs: 5_000,
    publishTimeoutMs: 2_000,
    maxHeldEvents: 256,
  });
  const me: string | null = client.user;
  const session: string | null = client.session;
  // @ts-expect-error: the user is a string, not a number
  const wrongUser: number = client.user;

  const stored: Position = { epoch: 1, seq: 41 };
  const room = await client.join("board", { meta: { color: "red" }, since: stored });
  // @ts-expect-error: a position has an epoch
  await client.join("board", { since: { seq: 41 } });
  const recovered: boolean | null = room.recovered;
  const position: Position | null = room.position;
  const policy: RoomPolicy | null = room.policy;
  const members: Member<Meta>[] = room.members;

  await room.setPresence({ color: "blue", typing: true });
  // @ts-expect-error: presence metadata is a Meta
  await room.setPresence({ colour: "blue" });
  await room.broadcast({ x: 1, y: 2 });
  await room.broadcast({ x: 1, y: 2 }, { ack: true });
  // @ts-expect-error: a broadcast carries the room's message type
  await room.broadcast({ x: "left", y: 2 });

  const page: HistoryPage<Cursor> = await room.history({ before: 100, limit: 20 });
  const first: number | undefined = page.messages[0]?.seq;
  // @ts-expect-error: `before` is a seq
  await room.history({ before: "yesterday" });

  room.on("presence", (e) => {
    const now: Member<Meta>[] = e.members;
    const changed: Member<Meta>[] = e.updated;
    void now;
    void changed;
  });
  room.on("ephemeral", (e) => {
    const x: number = e.data.x;
    void x;
  });
  room.on("error", (e) => {
    const code: ErrorCode = e.code;
    const count: number | undefined = e.count;
    void code;
    void count;
  });
  const listener = (e: { seq: number }) => void e;
  room.once("message", listener);
  room.off("message", listener);
  // The server's messages to this user, outside any room: of no declared type.
  client.on("message", (data) => {
    // @ts-expect-error: narrow the server's message before using it
    const wrongData: string = data.text;
    void wrongData;
  });
  // @ts-expect-error: a client has no presence event
  client.once("presence", () => {});
  room.on("unsubscribed", (e) => {
    const why: string = e.message;
    const name: string = e.room;
    void why;
    void name;
  });
  // The issuer's presence data (the token's `info`), of no declared type.
  const info: unknown = room.members[0]?.info;

  for await (const event of room) {
    const tagged: RoomEvent<Cursor, Meta> = event;
    void tagged;
    if (event.type === "message") {
      const seq: number = event.seq;
      void seq;
    } else if (event.type === "error") {
      const code: ErrorCode = event.code;
      void code;
    }
    break;
  }

  const time = await room.request({ kind: "time" });
  const now: number = time.now;
  const echoed = await room.request({ kind: "echo", text: "hi" });
  const text: string = echoed.text;
  // @ts-expect-error: the reply to `time` has no text
  const wrongReply: string = (await room.request({ kind: "time" })).text;
  // @ts-expect-error: not a declared query
  await room.request({ kind: "weather" });
  client.onRequest((query) => (query.kind === "time" ? { now: Date.now() } : { text: query.text }));
  // @ts-expect-error: a reply must be one the map declares
  room.onRequest(() => ({ weather: "rain" }));

  try {
    await room.publish({ x: 0, y: 0 });
  } catch (e) {
    if (e instanceof TandemError) {
      const code: ErrorCode = e.code;
      // @ts-expect-error: codes are a closed set of names
      const wrongCode: ErrorCode = "oops";
      void code;
      void wrongCode;
    }
  }
  // @ts-expect-error: free() is not part of the API
  client.free();
  void [me, session, wrongUser, recovered, position, policy, members, first, now, text, wrongReply, info];
}
