// One subscriber of the chaos suite's browser scenario: joins room `chaos` through the npm
// package (tandem-sdk, copied next to this page as ./pkg/) at ws://<this page's host>/, the
// cutting proxy, and checks every message with the same rule as the native checker
// (crates/tandem-chaos/src/check.rs): seq == last + 1 is fine; seq <= last is a duplicate;
// seq > last + 1 is a loss, signalled if a `joined` with `recovered: false` came since the
// last message (then the numbering may restart, and the loss is counted with the
// publisher's own number `data.n`), silent otherwise.
//
// Reports through window.chaos (read by run.mjs); window.chaosReady once joined.

const status = document.getElementById("status");
const st = {
  lastSeq: 0,
  lastN: 0,
  signalled: false,
  received: 0,
  maxN: 0,
  duplicates: 0,
  silentLost: 0,
  gaps: [],
  notRecovered: 0,
  open: false,
  lastOpen: 0,
  left: false,
  errors: 0,
  problem: null,
};
window.chaos = st;

function note(problem) {
  if (st.problem === null) st.problem = String(problem);
}

function onMessage(seq, n) {
  if (st.signalled) {
    st.signalled = false;
    if (typeof n === "number" && n > st.lastN + 1) st.gaps.push([st.lastN, n]);
  } else if (seq <= st.lastSeq) {
    st.duplicates += 1;
    note(`duplicate: seq ${st.lastSeq} then ${seq}`);
    return;
  } else if (seq > st.lastSeq + 1) {
    st.silentLost += seq - st.lastSeq - 1;
    note(`silent gap: seq ${st.lastSeq} then ${seq}`);
  }
  st.lastSeq = seq;
  st.received += 1;
  if (typeof n === "number") {
    st.lastN = n;
    if (n > st.maxN) st.maxN = n;
  }
}

async function main() {
  const { Client } = await import("./pkg/index.js");
  const client = await Client.connect(`ws://${location.host}/`);
  st.open = true;
  st.lastOpen = Date.now();
  client.on("state", (state) => {
    if (state.kind === "open") {
      st.open = true;
      st.lastOpen = Date.now();
    } else {
      st.open = false;
      if (state.kind === "closed") note(`closed: ${JSON.stringify(state)}`);
    }
  });
  client.on("error", (err) => {
    st.errors += 1;
    note(`error: ${err?.message ?? err}`);
  });
  const room = await client.join("chaos", {});
  room.on("joined", ({ recovered }) => {
    st.left = false;
    if (recovered === false) {
      st.notRecovered += 1;
      st.signalled = true;
    }
  });
  room.on("message", ({ seq, data }) => onMessage(seq, data?.n));
  room.on("left", () => {
    st.left = true;
    note("left the room");
  });
  window.chaosClient = client;
  window.chaosReady = true;
  status.textContent = "joined";
}

main().catch((err) => {
  note(`failed: ${err?.message ?? err}`);
  window.chaosError = String(err?.message ?? err);
  status.textContent = `error: ${err}`;
});
