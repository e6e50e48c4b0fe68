// The README's collaboration example in TypeScript, type-checked: what follows the
// declarations is the README's block verbatim (xtask's tests check it is).
import type { Member, Position } from "tandem-sdk";

declare function savedPosition(): Position | undefined;
declare function render(members: Member<{ name: string; typing?: boolean }>[]): void;
declare function moveCursor(from: string | null, to: { x: number; y: number }): void;

import { Client } from "tandem-sdk";

type Cursor = { x: number; y: number };
type Meta = { name: string; typing?: boolean };
type Requests = { query: { kind: "time" }; reply: { now: number } };

const client = await Client.connect<Cursor, Meta, Requests>("wss://example.com/rt", {
  getToken: () => fetch("/token").then((r) => r.text()),
  signal: AbortSignal.timeout(10_000), // or timeoutMs
});
const room = await client.join("board", { meta: { name: "Ada" }, since: savedPosition() });
room.on("presence", ({ members }) => render(members)); // room.members is live too
room.on("ephemeral", ({ from, data }) => moveCursor(from, data));
await room.setPresence({ name: "Ada", typing: true });
await room.broadcast({ x: 10, y: 20 }); // ephemeral: rejects `not_connected` when offline
const page = await room.history({ limit: 50 }); // then { before: page.messages[0].seq }
console.log(page.more, (await room.request({ kind: "time" })).now); // typed by the map
for await (const event of room) if (event.type === "message") console.log(event.seq);
