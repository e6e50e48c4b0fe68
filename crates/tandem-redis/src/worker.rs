//! The one task that runs a node's scripts: operations go out in the order the node asked
//! for them (so one node's publishes are numbered in order), many per round trip as one
//! pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use core::time::Duration;
use redis::aio::MultiplexedConnection;
use redis::{Pipeline, Value};
use tandem_proto::{HistoryPage, HubConfig, Member, RoomPolicies, RoomPolicy, RoomState, Start};
use tandem_server::{BrokerError, SyncRequest};
use tokio::sync::{mpsc, oneshot};

use crate::scripts::Scripts;
use crate::wire;

/// Operations one pipeline carries at most.
const BATCH: usize = 512;
/// Joins one pipeline carries at most. Each answer carries history, so a pipeline of 512
/// resumes after a failover (1,000 clients at once) outgrew its deadline; 64 keep one
/// round trip well under it, and the rest follow in the next pipelines.
const SYNC_BATCH: usize = 64;
/// How long a pipeline (or a connection attempt) may take before Redis counts as gone.
const DEADLINE: Duration = Duration::from_secs(3);

/// One script call and where its answer goes.
pub(crate) enum Op {
    Publish {
        room: String,
        head: String,
        tail: String,
        reply: oneshot::Sender<Result<u64, BrokerError>>,
    },
    Sync {
        request: SyncRequest,
        reply: oneshot::Sender<Result<RoomState, BrokerError>>,
    },
    Depart {
        room: String,
        user: String,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    Update {
        room: String,
        user: String,
        meta: String,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// An ephemeral message for the other nodes; nobody waits for it.
    Ephemeral { room: String, frame: Bytes },
    History {
        room: String,
        before: Option<u64>,
        limit: u32,
        reply: oneshot::Sender<Result<HistoryPage, BrokerError>>,
    },
    /// Liveness and reaping; the answer is the number of nodes reaped.
    Beat {
        reply: oneshot::Sender<Result<u64, BrokerError>>,
    },
    Reclaim {
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// An operator's action for every node (as `wire::write_admin` writes it); the answer
    /// is how many nodes received it.
    Admin {
        message: Vec<u8>,
        reply: oneshot::Sender<Result<usize, BrokerError>>,
    },
    /// A room's members as every node recorded them.
    Members {
        room: String,
        reply: oneshot::Sender<Result<Vec<Member>, BrokerError>>,
    },
}

/// What the scripts need besides each operation's own arguments.
pub(crate) struct Setup {
    pub client: redis::Client,
    pub prefix: String,
    pub node: String,
    /// The rooms' defaults, and each room's policy (history bounds, member limit).
    pub hub: HubConfig,
    pub policies: RoomPolicies,
    pub liveness_ms: u64,
    /// Whether the last pipeline went through.
    pub ok: Arc<AtomicBool>,
}

/// Runs operations until every sender is gone.
pub(crate) async fn run(setup: Setup, mut ops: mpsc::UnboundedReceiver<Op>) {
    let scripts = Scripts::new();
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    // An operation taken but left for the next pipeline (a join over SYNC_BATCH).
    let mut held: Option<Op> = None;
    loop {
        let first = match held.take() {
            Some(op) => op,
            None => match ops.recv().await {
                Some(op) => op,
                None => break,
            },
        };
        let mut syncs = usize::from(matches!(first, Op::Sync { .. }));
        batch.push(first);
        while batch.len() < BATCH {
            match ops.try_recv() {
                Ok(op @ Op::Sync { .. }) if syncs == SYNC_BATCH => {
                    held = Some(op);
                    break;
                }
                Ok(op) => {
                    syncs += usize::from(matches!(op, Op::Sync { .. }));
                    batch.push(op);
                }
                Err(_) => break,
            }
        }
        let pipe = pipeline(&setup, &scripts, &batch);
        let result = query(&setup, &scripts, &mut conn, &pipe).await;
        setup.ok.store(result.is_ok(), Ordering::Relaxed);
        match result {
            Ok(values) => answer(batch.drain(..), values),
            Err(e) => {
                tracing::warn!(error = %e, ops = batch.len(), "redis pipeline failed");
                for op in batch.drain(..) {
                    fail(op, BrokerError::Unavailable(e.clone()));
                }
            }
        }
    }
}

fn pipeline(setup: &Setup, scripts: &Scripts, batch: &[Op]) -> Pipeline {
    let mut pipe = redis::pipe();
    let p = setup.prefix.as_str();
    // The epoch a room gets if Redis does not know it yet: one draw serves the batch (epochs
    // are compared within one room only), 53 bits so JavaScript numbers hold it.
    let new_epoch = random() >> 11;
    let policy = |room: &str| setup.policies.of(room, &setup.hub);
    for op in batch {
        match op {
            Op::Ephemeral { room, frame } => {
                let mut message =
                    format!("X{}:{}{}:{room}", setup.node.len(), setup.node, room.len())
                        .into_bytes();
                message.extend_from_slice(frame);
                pipe.cmd("PUBLISH").arg(format!("{p}:bus")).arg(message);
                continue;
            }
            // Plain commands: one step each, nothing to keep atomic with them.
            Op::Admin { message, .. } => {
                pipe.cmd("PUBLISH").arg(format!("{p}:bus")).arg(message);
                continue;
            }
            Op::Members { room, .. } => {
                pipe.cmd("HGETALL").arg(format!("{p}:pm:{room}"));
                continue;
            }
            _ => {}
        }
        let cmd = pipe.cmd("EVALSHA");
        match op {
            Op::Publish {
                room, head, tail, ..
            } => {
                let h = Limits::of(&policy(room));
                cmd.arg(scripts.publish.get_hash()).arg(0).arg(p).arg(room);
                cmd.arg(head).arg(tail).arg(h.len);
                cmd.arg(h.age_ms).arg(new_epoch).arg(h.bytes);
            }
            Op::Sync { request, .. } => {
                let policy = policy(&request.room);
                let h = Limits::of(&policy);
                let meta = wire::member_data(request.meta.as_ref(), request.info.as_ref());
                let arrive = if request.arrive { "1" } else { "0" };
                cmd.arg(scripts.sync.get_hash()).arg(0).arg(p);
                cmd.arg(&request.room)
                    .arg(&request.user)
                    .arg(meta)
                    .arg(arrive);
                cmd.arg(&setup.node).arg(h.len);
                cmd.arg(h.age_ms).arg(new_epoch);
                cmd.arg(h.bytes).arg(wanted(request.start));
                cmd.arg(policy.max_members.unwrap_or(0));
            }
            Op::Update {
                room, user, meta, ..
            } => {
                cmd.arg(scripts.update.get_hash()).arg(0).arg(p);
                cmd.arg(room).arg(user).arg(meta);
            }
            Op::History {
                room,
                before,
                limit,
                ..
            } => {
                let h = Limits::of(&policy(room));
                cmd.arg(scripts.history.get_hash()).arg(0).arg(p).arg(room);
                cmd.arg(before.map(|b| b.to_string()).unwrap_or_default());
                cmd.arg(*limit).arg(h.len).arg(h.age_ms).arg(h.bytes);
            }
            Op::Ephemeral { .. } | Op::Admin { .. } | Op::Members { .. } => {}
            Op::Depart { room, user, .. } => {
                cmd.arg(scripts.depart.get_hash()).arg(0).arg(p);
                cmd.arg(&setup.node).arg(room).arg(user);
            }
            Op::Beat { .. } => {
                cmd.arg(scripts.beat.get_hash()).arg(0).arg(p);
                cmd.arg(&setup.node).arg(setup.liveness_ms);
            }
            Op::Reclaim { .. } => {
                cmd.arg(scripts.reclaim.get_hash())
                    .arg(0)
                    .arg(p)
                    .arg(&setup.node);
            }
        }
    }
    pipe
}

/// A room's history bounds as the scripts take them.
struct Limits {
    len: usize,
    age_ms: u64,
    bytes: usize,
}

impl Limits {
    fn of(policy: &RoomPolicy) -> Self {
        let h = policy.history;
        Limits {
            len: h.len,
            age_ms: u64::try_from(h.age.as_millis()).unwrap_or(u64::MAX),
            bytes: h.bytes,
        }
    }
}

/// What a join needs of the history, as the sync script reads it.
fn wanted(start: Start) -> String {
    match start {
        Start::Fresh { history } => format!("n{history}"),
        Start::After { epoch, seq } => format!("a{epoch}:{seq}"),
    }
}

/// Sends the pipeline, connecting first if needed; loads the scripts once if Redis lost
/// them (it was restarted) and tries again.
async fn query(
    setup: &Setup,
    scripts: &Scripts,
    conn: &mut Option<MultiplexedConnection>,
    pipe: &Pipeline,
) -> Result<Vec<Value>, String> {
    for attempt in 0..2 {
        let c = match conn {
            Some(c) => c,
            None => {
                let connecting = setup.client.get_multiplexed_async_connection();
                let c = match tokio::time::timeout(DEADLINE, connecting).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("connecting to redis timed out".into()),
                };
                conn.insert(c)
            }
        };
        match tokio::time::timeout(DEADLINE, pipe.query_async::<Vec<Value>>(c)).await {
            Ok(Ok(values)) => return Ok(values),
            Ok(Err(e)) if attempt == 0 && e.to_string().to_lowercase().contains("noscript") => {
                for script in scripts.all() {
                    script
                        .load_async(c)
                        .await
                        .map_err(|e| format!("loading scripts: {e}"))?;
                }
            }
            Ok(Err(e)) => {
                *conn = None;
                return Err(e.to_string());
            }
            Err(_) => {
                *conn = None;
                return Err("redis did not answer in time".into());
            }
        }
    }
    Err("scripts missing after loading them".into())
}

fn answer(batch: impl Iterator<Item = Op>, values: Vec<Value>) {
    let mut values = values.into_iter();
    for op in batch {
        let Some(value) = values.next() else {
            fail(op, BrokerError::Unavailable("short pipeline reply".into()));
            continue;
        };
        // A reply whose receiver is gone needs no handling: the asker gave up.
        match op {
            Op::Publish { reply, .. } => {
                let _ = reply.send(number(&value));
            }
            Op::Sync { reply, .. } => {
                let _ = reply.send(room_state(value));
            }
            Op::Update { reply, .. } => {
                let _ = reply.send(match number(&value) {
                    Ok(1) => Ok(()),
                    Ok(_) => Err(BrokerError::Unavailable(
                        "the member is not recorded in redis".into(),
                    )),
                    Err(e) => Err(e),
                });
            }
            Op::History { reply, .. } => {
                let _ = reply.send(page(value));
            }
            Op::Ephemeral { .. } => {}
            Op::Depart { reply, .. } | Op::Reclaim { reply } => {
                let _ = reply.send(Ok(()));
            }
            Op::Beat { reply } => {
                let _ = reply.send(number(&value));
            }
            Op::Admin { reply, .. } => {
                let nodes = number(&value).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                let _ = reply.send(nodes);
            }
            Op::Members { reply, .. } => {
                let _ = reply.send(members_of(&value));
            }
        }
    }
}

fn fail(op: Op, e: BrokerError) {
    match op {
        Op::Publish { reply, .. } | Op::Beat { reply } => {
            let _ = reply.send(Err(e));
        }
        Op::Sync { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Depart { reply, .. } | Op::Update { reply, .. } | Op::Reclaim { reply } => {
            let _ = reply.send(Err(e));
        }
        Op::History { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Admin { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Members { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        // Best effort: a lost ephemeral message is what ephemeral means.
        Op::Ephemeral { .. } => {}
    }
}

fn unexpected(what: &str) -> BrokerError {
    BrokerError::Unavailable(format!("unexpected reply from redis ({what})"))
}

fn number(value: &Value) -> Result<u64, BrokerError> {
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| unexpected("negative number")),
        _ => Err(unexpected("not a number")),
    }
}

fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn decimal(v: &Value) -> Result<u64, BrokerError> {
    text(v)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| unexpected("epoch or seq"))
}

/// A page from the history script: epoch, more, then the entries.
fn page(value: Value) -> Result<HistoryPage, BrokerError> {
    let Value::Array(parts) = value else {
        return Err(unexpected("history reply"));
    };
    let [epoch, more, entries @ ..] = parts.as_slice() else {
        return Err(unexpected("history reply shape"));
    };
    let mut frames = Vec::with_capacity(entries.len());
    for e in entries {
        let entry = text(e).ok_or_else(|| unexpected("history entry"))?;
        let (_, frame) = wire::parse_entry(entry).map_err(|e| unexpected(&e.to_string()))?;
        frames.push(frame);
    }
    Ok(HistoryPage {
        epoch: decimal(epoch)?,
        frames,
        more: number(more)? == 1,
    })
}

fn room_state(value: Value) -> Result<RoomState, BrokerError> {
    if text(&value) == Some(b"full") {
        return Err(BrokerError::RoomFull);
    }
    let Value::Array(parts) = value else {
        return Err(unexpected("sync reply"));
    };
    let [epoch, seq, Value::Array(entries), Value::Array(members)] = parts.as_slice() else {
        return Err(unexpected("sync reply shape"));
    };
    let mut history = Vec::with_capacity(entries.len());
    for e in entries {
        let entry = text(e).ok_or_else(|| unexpected("history entry"))?;
        history.push(wire::parse_entry(entry).map_err(|e| unexpected(&e.to_string()))?);
    }
    Ok(RoomState {
        epoch: decimal(epoch)?,
        seq: decimal(seq)?,
        history,
        members: member_pairs(members)?,
    })
}

/// A room's members from `HGETALL` (an array of user, meta, ...; a map under RESP3).
fn members_of(value: &Value) -> Result<Vec<Member>, BrokerError> {
    match value {
        Value::Array(flat) => member_pairs(flat),
        Value::Map(pairs) => pairs.iter().map(|(u, m)| member(u, m)).collect(),
        _ => Err(unexpected("members reply")),
    }
}

/// Members from a flat list of user, meta, user, meta...
fn member_pairs(flat: &[Value]) -> Result<Vec<Member>, BrokerError> {
    let mut list = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks(2) {
        let [user, meta] = pair else {
            return Err(unexpected("members"));
        };
        list.push(member(user, meta)?);
    }
    Ok(list)
}

fn member(user: &Value, meta: &Value) -> Result<Member, BrokerError> {
    let user = text(user)
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .ok_or_else(|| unexpected("member"))?;
    let (meta, info) =
        wire::member(text(meta).unwrap_or_default()).map_err(|e| unexpected(&e.to_string()))?;
    Ok(Member { user, meta, info })
}

/// 64 random bits (std's per-process random hash keys, over the time and the process).
pub(crate) fn random() -> u64 {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()))
}
