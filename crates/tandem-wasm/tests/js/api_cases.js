// Each API point of the package's JavaScript API, as one scenario against the real
// `tandem serve` the test suite starts (`--echo-requests`, tokens for alice and bob). Each
// function throws on the first expectation that fails; nothing sleeps: every wait is on an
// event, bounded by the Rust test's timeout.

function assert(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

function same(a, b, what) {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  if (x !== y) throw new Error(`${what}: got ${x}, expected ${y}`);
}

/** The next `count` events `event` of `target`, in order. */
function next(target, event, count = 1) {
  return new Promise((resolve) => {
    const got = [];
    const off = target.on(event, (e) => {
      got.push(e);
      if (got.length === count) {
        off();
        resolve(count === 1 ? got[0] : got);
      }
    });
  });
}

async function rejects(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof Error && e.name === "TandemError", `${what}: a TandemError`);
    same(e.code, code, what);
    return e;
  }
  throw new Error(`${what}: resolved, expected ${code}`);
}

const room = (name) => `${name}-${Math.random().toString(36).slice(2, 8)}`;

export async function presence_is_live(api, url, alice, bob) {
  const a = await api.Client.connect(url, { token: alice });
  const b = await api.Client.connect(url, { token: bob });
  same([a.user, b.user], ["alice", "bob"], "client.user");
  assert(typeof a.session === "string" && a.session !== b.session, "client.session");
  const name = room("presence");
  const ra = await a.join(name, { meta: { color: "red" } });
  const arrival = next(ra, "presence");
  const rb = await b.join(name, { meta: { color: "blue" } });
  same((await arrival).joined, [{ user: "bob", meta: { color: "blue" } }], "arrival");
  same(rb.members.map((m) => m.user), ["alice", "bob"], "snapshot");
  assert(rb.policy && rb.policy.numbered === true && rb.policy.presence === true, "policy");
  const update = next(ra, "presence");
  await rb.setPresence({ color: "green", typing: true });
  const e = await update;
  same(e.updated, [{ user: "bob", meta: { color: "green", typing: true } }], "updated");
  same(e.members.find((m) => m.user === "bob").meta.color, "green", "event.members");
  same(ra.members.find((m) => m.user === "bob").meta.color, "green", "room.members is live");
  const leaving = next(ra, "presence");
  await rb.leave();
  same((await leaving).left.map((m) => m.user), ["bob"], "departure");
  same(ra.members.map((m) => m.user), ["alice"], "room.members after a departure");
  await a.close();
  await b.close();
}

export async function ephemeral_messages_and_history_pages(api, url, alice, bob) {
  const a = await api.Client.connect(url, { token: alice });
  const b = await api.Client.connect(url, { token: bob });
  const name = room("board");
  const ra = await a.join(name);
  const rb = await b.join(name);
  for (let n = 1; n <= 5; n += 1) same(await ra.publish({ n }), n, "publish's seq");
  let echoed = false;
  rb.on("ephemeral", () => {
    echoed = true;
  });
  const cursor = next(ra, "ephemeral");
  await rb.broadcast({ x: 3, y: 4 });
  await rb.broadcast({ x: 5, y: 6 }, { ack: true });
  same(await cursor, { type: "ephemeral", room: name, from: "bob", data: { x: 3, y: 4 } }, "ephemeral");
  const newest = await rb.history({ limit: 2 });
  same(newest.messages.map((m) => m.data.n), [4, 5], "the newest page");
  assert(newest.more && newest.messages[0].from === "alice", "more, from");
  const older = await rb.history({ before: newest.messages[0].seq });
  same(older.messages.map((m) => m.seq), [1, 2, 3], "the rest, once");
  assert(!older.more, "nothing older");
  assert(!echoed, "an ephemeral message does not come back to its sender");
  await rb.leave();
  await rejects(rb.broadcast({ x: 0 }), "not_connected", "broadcast after leaving");
  await a.close();
  await b.close();
}

export async function join_since_a_stored_position(api, url, alice, bob) {
  const a = await api.Client.connect(url, { token: alice });
  const name = room("since");
  const ra = await a.join(name);
  const b = await api.Client.connect(url, { token: bob });
  const rb = await b.join(name);
  const seen = next(rb, "message", 3);
  for (let n = 1; n <= 3; n += 1) await ra.publish({ n });
  await seen;
  const stored = rb.position;
  same(stored.seq, 3, "room.position");
  await b.close();
  for (let n = 4; n <= 5; n += 1) await ra.publish({ n });
  const again = await api.Client.connect(url, { token: bob });
  const resumed = await again.join(name, { since: stored });
  same(resumed.recovered, true, "recovered");
  const missed = await next(resumed, "message", 2);
  same(missed.map((m) => m.seq), [4, 5], "exactly what it missed");
  await a.close();
  await again.close();
}

export async function held_events_are_bounded_per_kind_and_never_dropped_silently(api, url, alice, bob) {
  const a = await api.Client.connect(url, { token: alice });
  const name = room("held");
  const ra = await a.join(name);
  for (let n = 1; n <= 12; n += 1) await ra.publish({ n });
  // Listeners attached in the same tick as the join resolves get every replayed event.
  const b = await api.Client.connect(url, { token: bob });
  const rb = await b.join(name, { history: 12 });
  const all = await next(rb, "message", 12);
  same(all.map((m) => m.data.n), [...Array(12).keys()].map((i) => i + 1), "the whole replay");
  await b.close();
  // With a bound of 5 and nobody listening to messages, 7 are dropped, and said so. A
  // request's answer comes after the replay (one socket, in order): then all 12 are in.
  const small = await api.Client.connect(url, { token: bob, maxHeldEvents: 5 });
  const rs = await small.join(name, { history: 12 });
  await rs.request({ after: "the replay" });
  const error = await next(rs, "error");
  same([error.code, error.count, error.room], ["events_dropped", 7, name], "one report, held");
  assert(error instanceof api.TandemError, "a TandemError");
  const held = await next(rs, "message", 5);
  same(held.map((m) => m.data.n), [1, 2, 3, 4, 5], "the first five, held");
  await small.close();
  // With an error listener already there, reports come as the drops happen; none is lost.
  const heard = await api.Client.connect(url, { token: bob, maxHeldEvents: 5 });
  const rh = await heard.join(name, { history: 12 });
  const reports = [];
  rh.on("error", (e) => reports.push(e));
  await rh.request({ after: "the replay" });
  same(reports.reduce((n, e) => n + e.count, 0), 7, "every drop reported");
  assert(reports.every((e) => e.code === "events_dropped"), "as events_dropped");
  await heard.close();
  await a.close();
}

export async function once_off_and_async_iteration(api, url, alice) {
  const a = await api.Client.connect(url, { token: alice });
  const name = room("iter");
  const ra = await a.join(name);
  let once = 0;
  ra.once("message", () => {
    once += 1;
  });
  let offed = 0;
  const listener = () => {
    offed += 1;
  };
  ra.on("message", listener);
  ra.off("message", listener);
  const it = ra[Symbol.asyncIterator]();
  await ra.publish({ n: 1 });
  await ra.publish({ n: 2 });
  const first = await it.next();
  const second = await it.next();
  same([first.value.type, first.value.data.n, second.value.data.n], ["message", 1, 2], "iterated in order");
  same([once, offed], [1, 0], "once ran once, off removed");
  await it.return();
  // An iterator not read past its buffer reports the drop on the next read.
  const small = await api.Client.connect(url, { token: alice, maxHeldEvents: 2 });
  const rs = await small.join(room("iter-small"));
  const slow = rs[Symbol.asyncIterator]();
  for (let n = 1; n <= 5; n += 1) await rs.publish({ n });
  const report = (await slow.next()).value;
  same([report.type, report.code, report.count], ["error", "events_dropped", 3], "the iterator's drop report");
  same((await slow.next()).value.data.n, 1, "then what it kept");
  await slow.return();
  assert((await slow.next()).done, "a returned iterator is done");
  await small.close();
  await a.close();
}

export async function connect_aborts_and_times_out(api, refused, alice) {
  const controller = new AbortController();
  const connecting = api.Client.connect(refused, {
    token: alice,
    signal: controller.signal,
    onState: (s) => {
      if (s.kind === "reconnecting") controller.abort();
    },
  });
  await rejects(connecting, "aborted", "an aborted connect");
  const gone = new AbortController();
  gone.abort();
  await rejects(api.Client.connect(refused, { signal: gone.signal }), "aborted", "an aborted signal");
  await rejects(
    api.Client.connect(refused, { token: alice, timeoutMs: 50, backoff: { initialMs: 10, maxMs: 20 } }),
    "timeout",
    "timeoutMs",
  );
  await rejects(api.Client.connect(refused, { publishTimeoutMs: "soon" }), "invalid_options", "a bad option");
}

export async function requests_are_answered_both_ways(api, url, alice) {
  const a = await api.Client.connect(url, { token: alice });
  const ra = await a.join(room("ask"));
  same(await ra.request({ hello: 1 }), { hello: 1 }, "the server echoes");
  a.onRequest((query, context) => ({ client: query, room: context.room }));
  same(await ra.request({ ask: { q: 1 } }), { client: { q: 1 }, room: ra.name }, "the client's handler");
  const off = ra.onRequest(async (query) => ({ room: query }));
  same(await ra.request({ ask: 2 }), { room: 2 }, "the room's own handler first");
  off();
  ra.onRequest(() => {
    throw new Error("no thanks");
  });
  await rejects(ra.request({ ask: 3 }), "rejected", "a throwing handler");
  assert(api.TandemError !== undefined, "TandemError is exported");
  let threw = null;
  try {
    a.on("mesage", () => {});
  } catch (e) {
    threw = e;
  }
  same(threw?.code, "unknown_event", "on with a typo");
  await a.close();
}
