// The JavaScript side of the bindings. `messageEvent` builds the objects message listeners
// receive, in one call from wasm per event: the keys are JavaScript's own, and the
// payload's JSON text is parsed by the engine. `fetchToken` runs `getToken` and awaits
// its answer, so the wasm needs no future executor.

/** A `message` event: `{ room, seq, from, data }`; `data` is the parsed payload. */
export function messageEvent(room, seq, from, data) {
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    value = undefined; // the protocol checked it is JSON; this is never reached
  }
  return { room, seq, from, data: value };
}

/** Calls `getToken`, then `done(true, token)` or `done(false, reason)` on a later microtask. */
export function fetchToken(getToken, done) {
  new Promise((resolve) => resolve(getToken())).then(
    (token) => done(true, token),
    (reason) => done(false, reason),
  );
}
