// The package's public API: `Client`, `Room` and `TandemError`, over the wasm `Core` (one
// client session behind callbacks, crates/tandem-wasm/src/bindings.rs). Every protocol
// rule (reconnect, resume, ordering, queueing, acks) lives in the Rust core; this file
// gives it the language's own shapes: promises, listeners, async iterators, AbortSignal.
// The declarations are js/index.d.ts.

/** The error every promise of the package rejects with: an `Error` with a stable `code`. */
export class TandemError extends Error {
  constructor(code, message, room, count) {
    super(message);
    this.name = "TandemError";
    this.code = code;
    if (room != null) this.room = room;
    if (count != null) this.count = count;
  }
}

/** `e` (a `TandemError`, the core's `{ code, message }`, or anything thrown) as a `TandemError`. */
function asError(e, room) {
  if (e instanceof TandemError) return e;
  return new TandemError(e?.code ?? "internal", e?.message ?? String(e), room);
}

const CLIENT_EVENTS = ["state", "error"];
const ROOM_EVENTS = ["message", "ephemeral", "presence", "joined", "left", "error"];
/** Events held per room and kind for a listener not attached yet. */
const HELD = 1024;
/** Guards the constructors: only `Client.connect` and `join` make instances. */
const INTERNAL = Symbol("tandem");

function check(event, names) {
  if (!names.includes(event)) {
    throw new TandemError(
      "unknown_event",
      `no event is called "${event}"; the events are ${names.join(" ")}`,
    );
  }
}

/** `value` as JSON text, or a `payload` error. */
function json(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new TandemError("payload", `the value cannot be sent as JSON: ${e.message}`);
  }
  if (text === undefined) throw new TandemError("payload", "the value cannot be sent as JSON");
  return text;
}

/** A promise settled by the core's `done(code, value)`; `map` turns the value. */
function ask(room, start, map = (v) => v) {
  return new Promise((resolve, reject) => {
    try {
      start((code, value) =>
        code === undefined ? resolve(map(value)) : reject(new TandemError(code, value, room)),
      );
    } catch (e) {
      reject(asError(e, room));
    }
  });
}

/** A message object from the core's JSON text of a stored `event` frame. */
function stored(e) {
  return { type: "message", room: e.room, seq: e.seq, from: e.from ?? null, data: e.data };
}

/**
 * The listeners of a client or a room. A room holds the events of a kind nobody listens to
 * yet (the history a join replays arrives before `join` resolves), up to `bound` per kind,
 * for its first listener; beyond, it drops them and reports how many with an `error`
 * event (`events_dropped`): never silently.
 */
class Listeners {
  #names;
  #bound;
  #room;
  #map = new Map();
  #held = new Map();
  #pending = new Map();

  constructor(names, bound, room) {
    this.#names = names;
    this.#bound = bound;
    this.#room = room;
  }

  on(event, listener, once) {
    check(event, this.#names);
    const entry = { listener, once };
    const list = this.#map.get(event) ?? [];
    this.#map.set(event, [...list, entry]);
    const held = this.#held.get(event);
    if (held && this.#room !== undefined) {
      this.#held.delete(event);
      // The held drop reports are delivered now: later drops start new ones.
      if (event === "error") this.#pending.clear();
      // After `on` returns, in order, to this first listener.
      queueMicrotask(() => {
        for (const value of held) this.#call(event, entry, value);
      });
    }
    return () => this.#remove(event, (e) => e === entry);
  }

  off(event, listener) {
    check(event, this.#names);
    this.#remove(event, (e) => e.listener === listener);
  }

  #remove(event, which) {
    const list = this.#map.get(event) ?? [];
    const at = list.findIndex(which);
    if (at >= 0) this.#map.set(event, list.toSpliced(at, 1));
  }

  #call(event, entry, value) {
    if (entry.once) this.#remove(event, (e) => e === entry);
    try {
      entry.listener(value);
    } catch (e) {
      // A throwing listener must not stop the others or the socket's event.
      console.error(e);
    }
  }

  has(event) {
    return (this.#map.get(event)?.length ?? 0) > 0;
  }

  get bound() {
    return this.#bound;
  }

  emit(event, value) {
    const list = this.#map.get(event);
    if (list?.length) {
      for (const entry of list) this.#call(event, entry, value);
      return;
    }
    if (this.#room === undefined) return;
    const held = this.#held.get(event) ?? [];
    if (held.length < this.#bound) {
      held.push(value);
      this.#held.set(event, held);
    } else {
      this.#drop(event);
    }
  }

  /**
   * One more `event` dropped. The report (`events_dropped`) is one error per burst: held
   * for the first `error` listener, its count growing until then; with a listener, sent
   * once the burst's task is over.
   */
  #drop(event) {
    const pending = this.#pending.get(event);
    if (pending) {
      pending.count += 1;
      pending.message = `${pending.count} ${event} events dropped: nothing listened for them (maxHeldEvents ${this.#bound})`;
      return;
    }
    const error = new TandemError("events_dropped", "", this.#room, 0);
    this.#pending.set(event, error);
    this.#drop(event);
    if (this.has("error")) {
      queueMicrotask(() => {
        this.#pending.delete(event);
        this.emit("error", error);
      });
    } else {
      const held = this.#held.get("error") ?? [];
      held.push(error);
      this.#held.set("error", held);
    }
  }

  forget() {
    this.#held.clear();
  }
}

/**
 * The API over a core: `makeCore.start(url, options, onEvent)` starts a session, `load()`
 * loads the wasm once (the package entry passes wasm-bindgen's `Core` and its `init`).
 */
export function install(makeCore, load) {
  class Client {
    #core;
    #listeners = new Listeners(CLIENT_EVENTS, HELD);
    #rooms = new Map();
    #held;
    #requests = null;
    #state = { kind: "idle" };

    constructor(token, url, options) {
      if (token !== INTERNAL) throw new TypeError("use Client.connect");
      const { getToken, onState, maxHeldEvents, signal, timeoutMs, ...settings } = options;
      this.#held = maxHeldEvents ?? HELD;
      if (onState) this.#listeners.on("state", onState);
      if (getToken) {
        settings.fetchToken = (done) =>
          new Promise((resolve) => resolve(getToken())).then(
            (token) => done(true, token),
            (reason) => done(false, String(reason?.message ?? reason)),
          );
      }
      this.#core = makeCore.start(url, settings, (kind, room, a, b, c) =>
        this.#dispatch(kind, room, a, b, c),
      );
    }

    /**
     * Connects and resolves once the server has welcomed the client; rejects when it
     * closes for good first, when `signal` aborts (`aborted`) or after `timeoutMs`
     * (`timeout`). While the server is unreachable it keeps retrying until then.
     */
    static async connect(url, options = {}) {
      const { signal, timeoutMs } = options;
      const aborted = () => new TandemError("aborted", "connect was aborted");
      if (signal?.aborted) throw aborted();
      if (typeof WebSocket === "undefined") {
        throw new TandemError(
          "unsupported",
          "this runtime has no WebSocket (Node 20: run with --experimental-websocket; Node 22 has one)",
        );
      }
      await load();
      if (signal?.aborted) throw aborted();
      let client;
      try {
        client = new Client(INTERNAL, url, options);
      } catch (e) {
        throw asError(e);
      }
      return new Promise((resolve, reject) => {
        let timer;
        const stop = (error) => {
          cleanup();
          client.close();
          reject(error);
        };
        const onAbort = () => stop(aborted());
        const unsubscribe = client.on("state", (state) => {
          if (state.kind === "open") {
            cleanup();
            resolve(client);
          } else if (state.kind === "closed") {
            cleanup();
            reject(new TandemError(state.code, state.reason));
          }
        });
        const cleanup = () => {
          unsubscribe();
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        };
        signal?.addEventListener("abort", onAbort);
        if (timeoutMs != null) {
          timer = setTimeout(
            () => stop(new TandemError("timeout", `not connected within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }
        if (client.state.kind === "open") {
          cleanup();
          resolve(client);
        }
      });
    }

    /** The connection state now. */
    get state() {
      return this.#state;
    }

    /** The user the server knows this client as, once welcomed (kept while reconnecting). */
    get user() {
      return this.#core.user() ?? null;
    }

    /** The server's id of the current (or last) connection, once welcomed. */
    get session() {
      return this.#core.session() ?? null;
    }

    on(event, listener) {
      return this.#listeners.on(event, listener, false);
    }

    once(event, listener) {
      return this.#listeners.on(event, listener, true);
    }

    off(event, listener) {
      this.#listeners.off(event, listener);
    }

    /** Answers the server's requests (those about a room with a handler of its own go there). */
    onRequest(handler) {
      this.#requests = handler;
      return () => {
        if (this.#requests === handler) this.#requests = null;
      };
    }

    async join(name, options = {}) {
      const existing = this.#rooms.get(name);
      const room = existing ?? new Room(INTERNAL, this.#core, name, this.#held, this);
      if (!existing) this.#rooms.set(name, room);
      const { meta, since, ...settings } = options ?? {};
      const metaText = meta === undefined ? undefined : json(meta);
      const position = since == null ? undefined : new Float64Array([since.epoch, since.seq]);
      try {
        const answer = await ask(
          name,
          (done) => this.#core.join(name, metaText, settings, position, done),
          (text) => JSON.parse(text),
        );
        room.joined(answer);
        return room;
      } catch (e) {
        if (!existing) this.#rooms.delete(name);
        throw e;
      }
    }

    /** Drops the connection as a network failure would (no close frame): peers see the
     * member linger, and the client reconnects and resumes. */
    dropConnection() {
      this.#core.dropConnection();
    }

    /** Reconnects now when waiting out a backoff delay (a "retry now" button); otherwise nothing. */
    reconnectNow() {
      this.#core.reconnectNow();
    }

    /** Closes for good: pending operations reject with code `closed`. */
    close() {
      return ask(undefined, (done) => this.#core.close(done)).then(() => undefined);
    }

    /** Forgets a room the client is out of. */
    drop(name) {
      this.#rooms.get(name)?.listeners.forget();
      this.#rooms.delete(name);
    }

    #dispatch(kind, name, a, b, c) {
      if (kind === "state") {
        this.#state = a;
        this.#listeners.emit("state", a);
        return;
      }
      if (kind === "request") {
        this.#answer(name, a, b);
        return;
      }
      const room = name == null ? undefined : this.#rooms.get(name);
      if (kind === "error") {
        const error = new TandemError(a, b, name ?? undefined);
        if (room) room.listeners.emit("error", error);
        else this.#listeners.emit("error", error);
        return;
      }
      room?.receive(kind, a, b, c);
      if (kind === "left" && room) this.drop(name);
    }

    async #answer(name, id, data) {
      const handler = (name != null && this.#rooms.get(name)?.requests) || this.#requests;
      if (!handler) {
        this.#core.respond(id, undefined, "no_handler", "this client answers no requests");
        return;
      }
      try {
        const answer = await handler(JSON.parse(data), { room: name ?? null });
        this.#core.respond(id, json(answer ?? null));
      } catch (e) {
        this.#core.respond(id, undefined, "rejected", String(e?.message ?? e));
      }
    }
  }

  class Room {
    #core;
    #name;
    #client;
    #members = null;
    #policy = null;
    #recovered = null;
    listeners;
    requests = null;

    constructor(token, core, name, held, client) {
      if (token !== INTERNAL) throw new TypeError("use client.join");
      this.#core = core;
      this.#name = name;
      this.#client = client;
      this.listeners = new Listeners(ROOM_EVENTS, held, name);
    }

    joined(answer) {
      this.#members = answer.members;
      this.#policy = answer.policy;
      this.#recovered = answer.recovered;
    }

    get name() {
      return this.#name;
    }

    /** The room's members now: the join's snapshot with every change since. */
    get members() {
      this.#members ??= JSON.parse(this.#core.members(this.#name) ?? "[]");
      return this.#members;
    }

    /** For a join `since` a stored position: whether every message after it follows. */
    get recovered() {
      return this.#recovered;
    }

    /** What the room keeps and allows, as the server announced it. */
    get policy() {
      return this.#policy;
    }

    /** `{ epoch, seq }` of the last message this client has: store it to join `since` it later. */
    get position() {
      const p = this.#core.position(this.#name);
      return p ? { epoch: p[0], seq: p[1] } : null;
    }

    publish(data) {
      return ask(this.#name, (done) => this.#core.publish(this.#name, json(data), done));
    }

    broadcast(data, options) {
      const ack = options?.ack === true;
      return ask(this.#name, (done) => this.#core.broadcast(this.#name, json(data), ack, done));
    }

    setPresence(meta) {
      return ask(this.#name, (done) => this.#core.setPresence(this.#name, json(meta), done));
    }

    history(query = {}) {
      return ask(
        this.#name,
        (done) => this.#core.history(this.#name, query.before, query.limit, done),
        (text) => {
          const page = JSON.parse(text);
          return { epoch: page.epoch, messages: page.messages.map(stored), more: page.more };
        },
      );
    }

    request(data) {
      return ask(
        this.#name,
        (done) => this.#core.request(this.#name, json(data), done),
        (text) => JSON.parse(text),
      );
    }

    onRequest(handler) {
      this.requests = handler;
      return () => {
        if (this.requests === handler) this.requests = null;
      };
    }

    on(event, listener) {
      return this.listeners.on(event, listener, false);
    }

    once(event, listener) {
      return this.listeners.on(event, listener, true);
    }

    off(event, listener) {
      this.listeners.off(event, listener);
    }

    leave() {
      return ask(this.#name, (done) => this.#core.leave(this.#name, done)).then(() => {
        this.#client.drop(this.#name);
      });
    }

    /**
     * Every event of the room, in order, as `{ type, ...event }`. Events wait in a buffer
     * of `maxHeldEvents` between reads; beyond it they are dropped and the next read gives
     * an `error` event (`events_dropped`, with the count): read promptly, or use `on`.
     */
    [Symbol.asyncIterator]() {
      const queue = [];
      let waiting = null;
      let dropped = 0;
      let done = false;
      const bound = this.listeners.bound;
      const push = (value) => {
        if (waiting) {
          const resolve = waiting;
          waiting = null;
          resolve({ value, done: false });
        } else if (queue.length < bound) {
          queue.push(value);
        } else {
          dropped += 1;
        }
      };
      const offs = ROOM_EVENTS.map((event) => this.on(event, push));
      const finish = () => {
        done = true;
        queue.length = 0;
        dropped = 0;
        for (const off of offs) off();
        waiting?.({ value: undefined, done: true });
        waiting = null;
        return Promise.resolve({ value: undefined, done: true });
      };
      return {
        next: () => {
          if (dropped > 0) {
            const count = dropped;
            dropped = 0;
            const message = `${count} events dropped while the iterator was not read`;
            const error = new TandemError("events_dropped", message, this.#name, count);
            error.type = "error";
            return Promise.resolve({ value: error, done: false });
          }
          if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => {
            waiting = resolve;
          });
        },
        return: finish,
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    }

    receive(kind, a, b, c) {
      let event;
      switch (kind) {
        case "message":
          event = { type: kind, room: this.#name, seq: a, from: b, data: JSON.parse(c) };
          break;
        case "ephemeral":
          event = { type: kind, room: this.#name, from: a, data: JSON.parse(b) };
          break;
        case "presence": {
          this.#members = null;
          const room = this;
          event = {
            type: kind,
            room: this.#name,
            joined: JSON.parse(a),
            left: JSON.parse(b),
            updated: JSON.parse(c),
            get members() {
              return room.members;
            },
          };
          break;
        }
        case "joined":
          this.#members = JSON.parse(b);
          event = { type: kind, room: this.#name, recovered: a, members: this.#members };
          break;
        case "left":
          event = { type: kind, room: this.#name, reason: a ? new TandemError(a, b, this.#name) : null };
          break;
        default:
          return;
      }
      this.listeners.emit(kind, event);
    }
  }

  return { Client, Room, TandemError };
}
