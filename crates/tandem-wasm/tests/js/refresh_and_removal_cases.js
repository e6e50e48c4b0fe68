// The page's side of issue 23's frames, through the package's API, against a scripted
// server: the page's `WebSocket` is replaced by a fake whose frames are exactly the ones
// written here, so the server's `refresh`, `unsubscribed` and `message` come when the
// scenario says. Each function throws on the first expectation that fails; nothing
// sleeps: every wait is on a frame or an event, bounded by the Rust test's timeout.

function assert(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

function same(a, b, what) {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  if (x !== y) throw new Error(`${what}: got ${x}, expected ${y}`);
}

/** The next event `event` of `target`. */
function next(target, event) {
  return new Promise((resolve) => {
    const off = target.on(event, (e) => {
      off();
      resolve(e);
    });
  });
}

/**
 * A scripted server behind a fake `WebSocket`: `socket()` waits for the client's next
 * socket, `frame(kind)` for its next frame of that kind, `push(frame)` delivers one.
 */
class Script {
  sockets = [];
  #socketWaiters = [];
  sent = [];
  #frameWaiters = [];

  install() {
    const script = this;
    this.saved = globalThis.WebSocket;
    globalThis.WebSocket = class {
      constructor(url, protocols) {
        this.url = url;
        this.protocol = "";
        this.offered = protocols;
        queueMicrotask(() => {
          this.protocol = "tandem.v1.json";
          this.onopen?.({});
        });
        script.sockets.push(this);
        script.#socketWaiters.shift()?.(this);
      }
      send(text) {
        if (this.closed) throw new Error("closed");
        script.sent.push(JSON.parse(text));
        script.#wake();
      }
      close() {
        this.closed = true;
      }
    };
  }

  restore() {
    globalThis.WebSocket = this.saved;
  }

  get current() {
    return this.sockets[this.sockets.length - 1];
  }

  /** The next socket the client opens (or the one it opened and nobody took yet). */
  socket(count) {
    if (this.sockets.length >= count) return Promise.resolve(this.sockets[count - 1]);
    return new Promise((resolve) => this.#socketWaiters.push(resolve));
  }

  #wake() {
    const waiters = this.#frameWaiters.splice(0);
    for (const check of waiters) check();
  }

  /** The first frame of `kind` not taken yet. */
  frame(kind) {
    return new Promise((resolve) => {
      const check = () => {
        const at = this.sent.findIndex((f) => f.k === kind);
        if (at >= 0) resolve(this.sent.splice(at, 1)[0]);
        else this.#frameWaiters.push(check);
      };
      check();
    });
  }

  push(frame) {
    this.current.onmessage({ data: JSON.stringify({ v: 1, ...frame }) });
  }

  /** The connection drops (no close frame). */
  drop() {
    const ws = this.current;
    ws.closed = true;
    ws.onclose?.({ code: 1006, reason: "" });
  }

  async welcome(user) {
    const hello = await this.frame("hello");
    this.push({
      k: "welcome",
      session: `s${this.sockets.length}`,
      user,
      app: { name: "default", version: 1 },
      heartbeat: { interval_ms: 25000, timeout_ms: 10000 },
      limits: { max_frame_bytes: 65536 },
    });
    return hello;
  }
}

export async function refresh_message_and_unsubscribed(api) {
  const script = new Script();
  script.install();
  try {
    await scenario(api, script);
  } finally {
    script.restore();
  }
}

async function scenario(api, script) {
  let issued = 0;
  const getToken = async () => `t${(issued += 1)}`;
  const connecting = api.Client.connect("ws://scripted.test/", {
    getToken,
    backoff: { initialMs: 10, maxMs: 20 },
  });
  await script.socket(1);
  same((await script.welcome("alice")).token, "t1", "hello's token");
  const client = await connecting;

  const joining = client.join("docs", { meta: { color: "red" } });
  const join = await script.frame("join");
  script.push({
    k: "joined",
    id: join.id,
    room: "docs",
    epoch: 1,
    seq: 0,
    presence: [{ user: "alice", meta: { color: "red" }, info: { name: "Alice", role: "admin" } }],
  });
  const room = await joining;
  same(room.members, [{ user: "alice", meta: { color: "red" }, info: { name: "Alice", role: "admin" } }], "members carry info");
  const arrival = next(room, "presence");
  script.push({ k: "presence", room: "docs", joined: [{ user: "bob", info: { name: "Bob" } }], left: [], updated: [] });
  same((await arrival).joined, [{ user: "bob", info: { name: "Bob" } }], "a presence diff carries info");
  same(room.members.map((m) => m.info.name), ["Alice", "Bob"], "room.members keeps info");

  // A message from the server to this user, outside any room.
  const message = next(client, "message");
  script.push({ k: "message", data: { notice: "maintenance at noon" } });
  same(await message, { notice: "maintenance at noon" }, "client.on('message')");

  // The token expires soon: getToken is asked, the fresh token sent, and acked.
  const errors = [];
  client.on("error", (e) => errors.push(e));
  script.push({ k: "refresh", expires_in_ms: 30000 });
  const token = await script.frame("token");
  same([token.token, issued], ["t2", 2], "the fresh token from getToken");
  script.push({ k: "ack", id: token.id });
  // A refused one is an error event, and the client stays.
  script.push({ k: "refresh", expires_in_ms: 30000 });
  const refused = await script.frame("token");
  same(refused.token, "t3", "asked again");
  const reported = next(client, "error");
  script.push({ k: "error", id: refused.id, code: "unauthorized", message: "the token is for another user" });
  const error = await reported;
  assert(error instanceof api.TandemError, "a TandemError");
  same([error.code, errors.length], ["unauthorized", 1], "the refusal, once");
  same(client.state.kind, "open", "still open");
  same(script.sockets.length, 1, "one connection");

  // The server takes the client out of the room: told, and the room is left.
  const unsubscribed = next(room, "unsubscribed");
  script.push({ k: "unsubscribed", room: "docs", message: "removed by an operator" });
  same(await unsubscribed, { type: "unsubscribed", room: "docs", message: "removed by an operator" }, "room.on('unsubscribed')");
  let code = null;
  try {
    await room.publish({ n: 1 });
  } catch (e) {
    code = e.code;
  }
  same(code, "not_joined", "a publish to the room after it");

  // After a reconnect, the room is not rejoined; another join works.
  script.drop();
  await script.socket(2);
  same((await script.welcome("alice")).token, "t4", "a fresh token for the new connection");
  same(script.sent, [], "nothing rejoined");
  const other = client.join("lobby");
  const second = await script.frame("join");
  same(second.room, "lobby", "the next join is the application's");
  script.push({ k: "joined", id: second.id, room: "lobby", epoch: 1, seq: 0, presence: [] });
  await other;
  same(script.sent, [], "and nothing else");
  await client.close();
}
