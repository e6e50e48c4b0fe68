// The package's public declarations: the classes of api.js, typed with the application's
// message type `M`, presence metadata type `P` and request map `R`. The option, state and
// event shapes come from the Rust types (tsify, in ./tandem.js); `ErrorCode` is checked
// against the Rust `ErrorCode` and the client's own codes by a test of tandem-wasm.

import type {
  ConnectSettings,
  EphemeralEvent,
  HistoryPage,
  JoinSettings,
  JoinedEvent,
  LeftEvent,
  Member,
  MessageEvent,
  Position,
  PresenceEvent,
  RoomPolicy,
  State,
  UnsubscribedEvent,
} from "./tandem.js";

export type {
  AppOptions,
  BackoffOptions,
  ConnectSettings,
  EphemeralEvent,
  HeartbeatOptions,
  HistoryPage,
  JoinSettings,
  JoinedEvent,
  LeftEvent,
  Member,
  MessageEvent,
  Position,
  PresenceEvent,
  QueueOptions,
  RoomPolicy,
  State,
  UnsubscribedEvent,
} from "./tandem.js";

/** Every stable error code: the server's (PROTOCOL.md §8.1) and the client's own. */
export type ErrorCode =
  // The server's, on the wire.
  | "malformed_frame"
  | "unknown_kind"
  | "missing_field"
  | "wrong_type"
  | "unsupported_version"
  | "too_large"
  | "unexpected_frame"
  | "rate_limited"
  | "unauthorized"
  | "token_expired"
  | "forbidden"
  | "not_joined"
  | "too_many_rooms"
  | "room_policy"
  | "room_full"
  | "app_version_mismatch"
  | "protocol_mismatch"
  | "no_handler"
  | "rejected"
  | "timeout"
  | "unavailable"
  | "internal"
  | "unknown"
  // The client's own.
  | "closed"
  | "attempts_exhausted"
  | "server_closed"
  | "queue_full"
  | "not_connected"
  | "connection_lost"
  | "payload"
  | "invalid_url"
  | "invalid_options"
  | "unknown_event"
  | "events_dropped"
  | "aborted"
  | "unsupported";

/** Every promise of the package rejects with a `TandemError`: an `Error` with a stable `code`. */
export declare class TandemError extends Error {
  private constructor();
  readonly name: "TandemError";
  readonly code: ErrorCode;
  /** The room concerned, for errors about a room. */
  readonly room?: string;
  /** For `events_dropped`: how many events were dropped. */
  readonly count?: number;
}

/** Calling it removes the listener. */
export type Unsubscribe = () => void;

/**
 * The requests an application declares: each entry ties a query type to its reply type.
 * `room.request(query)` then resolves with that query's reply, and an `onRequest` handler
 * must answer each query with its reply.
 */
export type RequestMap = { query: unknown; reply: unknown };

/** The reply a request map gives for query `Q` (`unknown` without a map). */
export type ReplyTo<R extends RequestMap, Q> = unknown extends R["query"]
  ? unknown
  : Extract<R, { query: Q }>["reply"];

/** Answers one request from the server; what it returns (or resolves with) is the reply. */
export type RequestHandler<R extends RequestMap> = (
  query: R["query"],
  context: { room: string | null },
) => R["reply"] | Promise<R["reply"]>;

/** Options of `Client.connect`: the settings, plus callbacks and limits of this API. */
export interface ConnectOptions extends ConnectSettings {
  /**
   * A fresh token before each connection attempt (a rejected promise retries with
   * backoff), and when the server asks for one because the session's token expires soon:
   * the session then goes on without a reconnect (a failure or a refused token is an
   * `error` event, and the client reconnects with a fresh token at expiry).
   */
  getToken?: () => Promise<string> | string;
  /** Hears every state change from the first attempt on, before `connect` settles too. */
  onState?: (state: State) => void;
  /** Aborts `connect` (it rejects with code `aborted` and the client closes). */
  signal?: AbortSignal;
  /** Gives up connecting after this long (code `timeout`); without, it retries until closed. */
  timeoutMs?: number;
  /**
   * Events held per room and kind until a listener for them is attached (the history a
   * join replays arrives before `join` resolves), and buffered per async iterator between
   * reads. Beyond it, events are dropped and an `error` event (`events_dropped`, with the
   * count) says so. Default 1024.
   */
  maxHeldEvents?: number;
}

/** Options of `client.join`. */
export interface JoinOptions<P = unknown> extends JoinSettings {
  /** Presence metadata shown to the room's members. */
  meta?: P;
  /**
   * Resume from a stored position (`room.position`, saved before a reload): every message
   * after it follows, or `joined` says `recovered: false` when some are gone.
   */
  since?: Position;
}

export interface RoomEvents<M, P = unknown> {
  message: MessageEvent<M>;
  ephemeral: EphemeralEvent<M>;
  presence: PresenceEvent<P>;
  joined: JoinedEvent<P>;
  left: LeftEvent;
  unsubscribed: UnsubscribedEvent;
  error: TandemError;
}

/** One event of a room, tagged with its kind: what `for await (const e of room)` gives. */
export type RoomEvent<M, P = unknown> = {
  [K in keyof RoomEvents<M, P>]: RoomEvents<M, P>[K] & { type: K };
}[keyof RoomEvents<M, P>];

export interface ClientEvents {
  state: State;
  error: TandemError;
  /** A message from the server to this user, outside any room (an operator's or the backend's). */
  message: unknown;
}

/**
 * A connection to a tandem server, typed with the application's message type `M`, its
 * presence metadata type `P` and its request map `R`.
 */
export declare class Client<M = unknown, P = unknown, R extends RequestMap = RequestMap> {
  private constructor();
  /** Connects and resolves once welcomed; rejects if it closes for good first, or on `signal` / `timeoutMs`. */
  static connect<M = unknown, P = unknown, R extends RequestMap = RequestMap>(
    url: string,
    options?: ConnectOptions,
  ): Promise<Client<M, P, R>>;
  /** The connection state now. */
  readonly state: State;
  /** The user the server knows this client as (its messages' `from`, its own member); `null` before the first welcome. */
  readonly user: string | null;
  /** The server's id of the current (or last) connection. */
  readonly session: string | null;
  /** Listens to `state`, `error` or `message`; throws a `TandemError` (code `unknown_event`) for any other name. */
  on<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): Unsubscribe;
  /** `on`, for the next event only. */
  once<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): Unsubscribe;
  /** Removes a listener given to `on` or `once`. */
  off<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): void;
  /** Answers the server's requests (a room's own handler answers those about it). */
  onRequest(handler: RequestHandler<R>): Unsubscribe;
  join(room: string, options?: JoinOptions<P>): Promise<Room<M, P, R>>;
  /** Drops the connection as a network failure would: peers see you linger; the client reconnects and resumes. */
  dropConnection(): void;
  /** Reconnects now when waiting out a backoff delay (a "retry now" button); otherwise nothing. */
  reconnectNow(): void;
  /** Closes for good: pending operations reject with code `closed`. */
  close(): Promise<void>;
}

/** A joined room. */
export declare class Room<M = unknown, P = unknown, R extends RequestMap = RequestMap> {
  private constructor();
  readonly name: string;
  /** The room's members now: the join's snapshot with every change since. */
  readonly members: Member<P>[];
  /** What the room keeps and allows, as the server announced it at join. */
  readonly policy: RoomPolicy | null;
  /** For a join `since` a stored position: `true` when every message after it follows, `false` when some are gone (refetch); `null` otherwise. */
  readonly recovered: boolean | null;
  /** The position of the last message this client has: store it, join `since` it later. */
  readonly position: Position | null;
  /** Numbered and stored; queued while offline; resolves with its seq once acknowledged. */
  publish(data: M): Promise<number>;
  /**
   * An ephemeral message to the room's other connections (cursors, typing): not numbered,
   * stored or queued, and shed for a reader that falls behind. Resolves once sent (with
   * `ack`: once the server took it); rejects at once with `not_connected` when offline.
   */
  broadcast(data: M, options?: { ack?: boolean }): Promise<void>;
  /** Replaces your presence metadata in this room; every member sees it in `updated`. */
  setPresence(meta: P): Promise<void>;
  /** A page of stored messages: the newest `limit` before seq `before` (from the newest without). */
  history(query?: { before?: number; limit?: number }): Promise<HistoryPage<M>>;
  /** Asks the server about this room; resolves with the reply the request map gives. */
  request<Q extends R["query"]>(data: Q): Promise<ReplyTo<R, Q>>;
  /** Asks the server about this room, the reply and query types given: only without a request map. */
  request<Reply, Query = unknown>(data: unknown extends R["query"] ? Query : never): Promise<Reply>;
  /** Answers the server's requests about this room. */
  onRequest(handler: RequestHandler<R>): Unsubscribe;
  /**
   * Listens to the room's events. Events that came before the room's first listener of
   * their kind (the history replayed on join) are delivered to it right after `on` returns.
   */
  on<K extends keyof RoomEvents<M, P>>(event: K, listener: (event: RoomEvents<M, P>[K]) => void): Unsubscribe;
  once<K extends keyof RoomEvents<M, P>>(event: K, listener: (event: RoomEvents<M, P>[K]) => void): Unsubscribe;
  off<K extends keyof RoomEvents<M, P>>(event: K, listener: (event: RoomEvents<M, P>[K]) => void): void;
  /**
   * Every event of the room in order. Backpressure: events wait in a buffer of
   * `maxHeldEvents` between reads; beyond it they are dropped and the next read gives an
   * `error` event (`events_dropped`, with the count).
   */
  [Symbol.asyncIterator](): AsyncIterator<RoomEvent<M, P>>;
  leave(): Promise<void>;
}
