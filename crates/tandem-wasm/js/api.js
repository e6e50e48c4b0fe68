// The package's public API: `Client`, `Room` and `TandemError`, over the wasm `Core` (the
// protocol session, crates/tandem-wasm/src/bindings.rs). Every protocol rule (reconnect,
// backoff, heartbeat, resume, ordering, queueing, acks) is the Rust session; this file is
// its driver in the page, as tandem-client's drivers are natively: it opens, writes and
// closes the `WebSocket`, keeps one timer, feeds the socket's and the window's events in,
// and gives the session's events and answers the language's own shapes: promises,
// listeners, async iterators, AbortSignal. The declarations are js/index.d.ts.

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

const CLIENT_EVENTS = ["state", "error", "message"];
const ROOM_EVENTS = ["message", "ephemeral", "presence", "joined", "left", "unsubscribed", "error"];
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

/** The page's clock in milliseconds, the one the session's deadlines are read against. */
const now = () => globalThis.performance?.now() ?? Date.now();

/** `url` ready for `new WebSocket`: `ws://` and `wss://` as they are, a path on this page. */
function resolve(url) {
  if (url.startsWith("ws://") || url.startsWith("wss://")) return url;
  const page = globalThis.location;
  if (url.startsWith("/") && page?.host) {
    return `${page.protocol === "https:" ? "wss" : "ws"}://${page.host}${url}`;
  }
  throw new TandemError(
    "invalid_url",
    `invalid url \`${url}\`: it must start with ws://, wss:// or / (a path on this page's host)`,
  );
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
 * The API over the core: `makeCore(options, refresh, seed)` makes a session, `load()`
 * loads the wasm once (the package entry passes wasm-bindgen's `Core` and `init`).
 */
export function install(makeCore, load) {
  class Client {
    #core;
    #listeners = new Listeners(CLIENT_EVENTS, HELD);
    #rooms = new Map();
    #held;
    #requests = null;
    #state = { kind: "idle" };
    #user = null;
    #session = null;
    #getToken;
    #urls;
    #attempts = 0;
    #socket = null;
    #timer = null;
    #timerAt = Infinity;
    #pumping = false;
    #again = false;
    /** Operations waiting for their answer: id -> { resolve, reject, room, map }. */
    #waiting = new Map();
    #detach = [];

    constructor(token, url, options) {
      if (token !== INTERNAL) throw new TypeError("use Client.connect");
      const { getToken, onState, maxHeldEvents, fallbackUrls } = options;
      this.#held = maxHeldEvents ?? HELD;
      this.#getToken = getToken;
      this.#core = makeCore(options, typeof getToken === "function", Math.random() * 2 ** 53);
      this.#urls = [url, ...(fallbackUrls ?? [])].map(resolve);
      if (onState) this.#listeners.on("state", onState);
      this.#watchThePage();
      this.#core.connect(now());
      this.#pump();
    }

    /**
     * Connects and resolves once the server has welcomed the client; rejects when it
     * closes for good first, when `signal` aborts (`aborted`) or after `timeoutMs`
     * (`timeout`). While the server is unreachable it keeps retrying until then.
     */
    static async connect(url, options = {}) {
      const { signal, timeoutMs } = options ?? {};
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
        client = new Client(INTERNAL, url, options ?? {});
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
        } else if (client.state.kind === "closed") {
          cleanup();
          reject(new TandemError(client.state.code, client.state.reason));
        }
      });
    }

    /** The connection state now. */
    get state() {
      return this.#state;
    }

    /** The user the server knows this client as, once welcomed (kept while reconnecting). */
    get user() {
      return this.#user;
    }

    /** The server's id of the current (or last) connection, once welcomed. */
    get session() {
      return this.#session;
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
      const room = existing ?? new Room(INTERNAL, this.#link, name, this.#held);
      if (!existing) this.#rooms.set(name, room);
      const { meta, since, ...settings } = options ?? {};
      try {
        const metaText = meta === undefined ? undefined : json(meta);
        const position = since == null ? undefined : new Float64Array([since.epoch, since.seq]);
        const answer = await this.#ask(name, (core, t) =>
          core.join(t, name, metaText, settings, position),
        );
        room.joined(answer);
        return room;
      } catch (e) {
        if (!existing) this.#rooms.delete(name);
        throw e;
      }
    }

    /** Drops the connection as a network failure would: peers see the member linger, and
     * the client reconnects and resumes. */
    dropConnection() {
      if (!this.#core.hasConnection()) return;
      // A page cannot drop a socket without a close frame: 4000 is an application code
      // the server counts as an abrupt end, as it does a drop (PROTOCOL.md §5.4).
      this.#shut(4000, "simulated network loss");
      this.#core.handleClosed(now(), undefined, "connection dropped by the application");
      this.#pump();
    }

    /** Reconnects now when waiting out a backoff delay (a "retry now" button); otherwise nothing. */
    reconnectNow() {
      this.#core.reconnectNow(now());
      this.#pump();
    }

    /** Closes for good: pending operations reject with code `closed`. */
    close() {
      this.#core.close(now());
      this.#pump();
      return Promise.resolve();
    }

    // --- the driver ---------------------------------------------------------------

    /** What rooms call the client for. */
    #link = {
      ask: (room, start, map) => this.#ask(room, start, map),
      send: (room, start) => this.#send(room, start),
      members: (room) => this.#core.members(room),
      position: (room) => this.#core.position(room),
      drop: (room) => this.#drop(room),
    };

    /** Starts an operation (`start(core, now)` gives its id) and waits for its answer. */
    #ask(room, start, map = (v) => v) {
      return new Promise((resolve, reject) => {
        try {
          const id = start(this.#core, now());
          this.#waiting.set(id, { resolve, reject, room, map });
        } catch (e) {
          reject(asError(e, room));
        }
        this.#pump();
      });
    }

    /** Starts an operation that has no answer to wait for (a broadcast without ack). */
    #send(room, start) {
      try {
        start(this.#core, now());
      } catch (e) {
        return Promise.reject(asError(e, room));
      } finally {
        this.#pump();
      }
      return Promise.resolve();
    }

    #settle(id, value, error) {
      const waiting = this.#waiting.get(id);
      if (!waiting) return;
      this.#waiting.delete(id);
      if (error) waiting.reject(new TandemError(error[0], error[1], waiting.room));
      else waiting.resolve(waiting.map(value));
    }

    #drop(name) {
      this.#rooms.get(name)?.listeners.forget();
      this.#rooms.delete(name);
    }

    /** Does what the session wants done, hands its events out, and arms the timer. A
     * listener that calls the client meanwhile makes the loop go round once more. */
    #pump() {
      if (this.#pumping) {
        this.#again = true;
        return;
      }
      this.#pumping = true;
      try {
        do {
          this.#again = false;
          this.#items = [];
          const deadline = this.#core.drain(this.#sink);
          // The core is no longer borrowed: what follows may call it again.
          for (const item of this.#items) this.#route(item);
          this.#arm(deadline);
        } while (this.#again);
      } finally {
        this.#pumping = false;
      }
    }

    /** What `drain` hands out, kept until it returns: `[kind, a, b, c, d, e, f, g]`. */
    #items = [];
    #sink = (k, a, b, c, d, e, f, g) => {
      this.#items.push([k, a, b, c, d, e, f, g]);
    };

    /** Opens the socket; its events feed the session while it is the current one. */
    #open(url, protocols) {
      this.#shut(1000, "replaced");
      let ws;
      try {
        ws = new WebSocket(url, protocols);
      } catch (e) {
        this.#core.handleClosed(now(), undefined, String(e?.message ?? e));
        this.#again = true;
        return;
      }
      ws.binaryType = "arraybuffer";
      this.#socket = ws;
      const current = (f) => (e) => {
        if (this.#socket !== ws) return;
        f(e);
        this.#pump();
      };
      ws.onopen = current(() => this.#core.handleOpen(now(), ws.protocol));
      ws.onmessage = current((e) => {
        const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data);
        this.#core.handleMessage(now(), text);
      });
      ws.onclose = current((e) => {
        this.#socket = null;
        // A drop is reported as 1006, which the session treats as one.
        this.#core.handleClosed(now(), e.code, e.reason);
      });
    }

    /** Closes the socket (if any) with `code`; none of its later events arrive. */
    #shut(code, reason) {
      const ws = this.#socket;
      if (!ws) return;
      this.#socket = null;
      ws.onopen = ws.onmessage = ws.onclose = null;
      // A page may send only 1000 and 3000-4999; other codes travel in the reason.
      const allowed = code === 1000 || (code >= 3000 && code <= 4999);
      const text = allowed ? reason : `${code} ${reason}`;
      try {
        ws.close(allowed ? code : 1000, new TextEncoder().encode(text).length > 123 ? "" : text);
      } catch {
        // Closing a socket that never opened can throw; it is let go of either way.
      }
    }

    /** Keeps one timer, armed for an earlier moment: firing early is harmless, and a
     * heartbeat deadline that moves with every message would cost a clear and a set. */
    #arm(deadline) {
      if (deadline === undefined || deadline >= this.#timerAt) return;
      clearTimeout(this.#timer);
      this.#timerAt = deadline;
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#timerAt = Infinity;
        this.#core.handleTimeout(now());
        this.#pump();
      }, Math.max(0, deadline - now()));
    }

    /** The window's network and visibility events, while the client lives. */
    #watchThePage() {
      const on = (target, event, f) => {
        if (!target?.addEventListener) return;
        const listener = () => {
          f();
          this.#pump();
        };
        target.addEventListener(event, listener);
        this.#detach.push(() => target.removeEventListener(event, listener));
      };
      if (globalThis.window === undefined) return;
      on(globalThis.window, "online", () => this.#core.handleNetwork(now(), true));
      on(globalThis.window, "offline", () => this.#core.handleNetwork(now(), false));
      const doc = globalThis.document;
      on(doc, "visibilitychange", () =>
        this.#core.handleVisibility(now(), doc.visibilityState === "visible"),
      );
    }

    /** Fetches a token for the session (`getToken`), on a later microtask at the earliest:
     * before each connection attempt, and when the server asks for a fresh one (`refresh`). */
    #fetchToken() {
      const answer = (ok, value, unauthorized) => {
        this.#core.handleToken(now(), ok, String(value), unauthorized);
        this.#pump();
      };
      if (!this.#getToken) {
        queueMicrotask(() => answer(false, "no token provider", true));
        return;
      }
      new Promise((resolve) => resolve(this.#getToken())).then(
        (token) =>
          typeof token === "string"
            ? answer(true, token, false)
            : answer(false, "getToken gave no string", true),
        (reason) => answer(false, reason?.message ?? reason, false),
      );
    }

    /** One item of `drain`, by its kind (bindings.rs `out`). */
    #route([kind, a, b, c, d, e, f, g]) {
      switch (kind) {
        case 0: {
          // Connect: each attempt after the first moves on to the next URL.
          const url = this.#urls[this.#attempts % this.#urls.length];
          this.#attempts += 1;
          this.#open(url, a);
          return;
        }
        case 1:
          try {
            this.#socket.send(a);
          } catch {
            this.#socket = null;
            this.#core.handleClosed(now(), undefined, "write failed");
            this.#again = true;
          }
          return;
        case 2:
          this.#shut(a, b);
          return;
        case 3:
          this.#state = a;
          if (a.kind === "closed") this.#release();
          this.#listeners.emit("state", a);
          return;
        case 4:
          this.#user = a;
          this.#session = b;
          return;
        case 5:
          this.#fetchToken();
          return;
        case 6:
          // Joined: a first join's answer, or a rejoin's event.
          if (a !== null) {
            const answer = { epoch: d, seq: e, recovered: c, members: JSON.parse(f) };
            answer.policy = g === null ? null : JSON.parse(g);
            this.#settle(a, answer);
          } else {
            this.#rooms.get(b)?.receive("joined", c, f);
          }
          return;
        case 7:
          this.#rooms.get(a)?.receive("message", b, c, d);
          return;
        case 8:
          this.#rooms.get(a)?.receive("ephemeral", b, c);
          return;
        case 9:
          this.#rooms.get(a)?.receive("presence", b, c, d);
          return;
        case 10:
          // Left: a leave's answer, or the server took the client out.
          if (a !== null) {
            this.#settle(a, undefined);
          } else {
            this.#rooms.get(b)?.receive("left", c, d);
            this.#drop(b);
          }
          return;
        case 11:
          this.#settle(a, b);
          return;
        case 12:
          this.#settle(a, undefined);
          return;
        case 13:
          this.#settle(a, { epoch: b, messages: JSON.parse(c).map(stored), more: d });
          return;
        case 14:
          this.#settle(a, JSON.parse(b));
          return;
        case 15:
          this.#settle(a, undefined, [b, c]);
          return;
        case 16:
          this.#answer(a, b, c);
          return;
        case 17: {
          const error = new TandemError(b, c, a ?? undefined);
          const room = a == null ? undefined : this.#rooms.get(a);
          if (room) room.listeners.emit("error", error);
          else this.#listeners.emit("error", error);
          return;
        }
        case 18:
          // The server took the client out of the room: it is not rejoined.
          this.#rooms.get(a)?.receive("unsubscribed", b);
          this.#drop(a);
          return;
        case 19:
          this.#listeners.emit("message", JSON.parse(a));
          return;
        default:
      }
    }

    /** Lets go of the socket, the timer and the page's listeners: closed for good. */
    #release() {
      this.#shut(1000, "client closed");
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerAt = Infinity;
      for (const detach of this.#detach.splice(0)) detach();
    }

    async #answer(id, name, data) {
      const handler = (name != null && this.#rooms.get(name)?.requests) || this.#requests;
      let result;
      if (!handler) {
        result = [undefined, "no_handler", "this client answers no requests"];
      } else {
        try {
          const answer = await handler(JSON.parse(data), { room: name ?? null });
          result = [json(answer ?? null)];
        } catch (e) {
          result = [undefined, "rejected", String(e?.message ?? e)];
        }
      }
      this.#core.respond(now(), id, ...result);
      this.#pump();
    }
  }

  class Room {
    #link;
    #name;
    #members = null;
    #policy = null;
    #recovered = null;
    listeners;
    requests = null;

    constructor(token, link, name, held) {
      if (token !== INTERNAL) throw new TypeError("use client.join");
      this.#link = link;
      this.#name = name;
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
      this.#members ??= JSON.parse(this.#link.members(this.#name) ?? "[]");
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
      const p = this.#link.position(this.#name);
      return p ? { epoch: p[0], seq: p[1] } : null;
    }

    publish(data) {
      const name = this.#name;
      return this.#link.ask(name, (core, t) => core.publish(t, name, json(data)));
    }

    broadcast(data, options) {
      const name = this.#name;
      const send = (core, t) => core.broadcast(t, name, json(data), options?.ack === true);
      return options?.ack === true ? this.#link.ask(name, send) : this.#link.send(name, send);
    }

    setPresence(meta) {
      const name = this.#name;
      return this.#link.ask(name, (core, t) => core.setPresence(t, name, json(meta)));
    }

    history(query = {}) {
      const name = this.#name;
      return this.#link.ask(name, (core, t) => core.history(t, name, query.before, query.limit));
    }

    request(data) {
      const name = this.#name;
      return this.#link.ask(name, (core, t) => core.request(t, name, json(data)));
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
      const name = this.#name;
      return this.#link
        .ask(name, (core, t) => core.leave(t, name))
        .then(() => this.#link.drop(name));
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
        case "unsubscribed":
          event = { type: kind, room: this.#name, message: a };
          break;
        default:
          return;
      }
      this.listeners.emit(kind, event);
    }
  }

  return { Client, Room, TandemError };
}
