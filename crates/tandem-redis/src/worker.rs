//! The one task that runs a node's scripts: operations go out in the order the node asked
//! for them (so one node's publishes are numbered in order), many per round trip. On one
//! Redis a batch is one pipeline; on a Redis Cluster each room's operations are their own
//! pipelines (a pipeline must stay in one slot), one at a time per room so the room keeps
//! its order, every room at once so a shard that is failing over holds up only its own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use core::time::Duration;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{Pipeline, Value};
use tandem_proto::{HistoryPage, HubConfig, Member, RoomPolicies, RoomPolicy, RoomState, Start};
use tandem_server::{BoxFuture, BrokerError, SyncRequest};
use tokio::sync::{mpsc, oneshot};

use crate::keys::{self, RoomKeys};
use crate::scripts::Scripts;
use crate::wire;

/// Operations one batch carries at most.
const BATCH: usize = 512;
/// Joins one batch carries at most. Each answer carries history, so a pipeline of 512
/// resumes after a failover (1,000 clients at once) outgrew its deadline; 64 keep one
/// round trip well under it, and the rest follow in the next batches.
const SYNC_BATCH: usize = 64;
/// How long a batch (or a connection attempt) may take before Redis counts as gone.
const DEADLINE: Duration = Duration::from_secs(3);
/// The wait before sending again a pipeline a cluster refused before running it.
const REFUSED_RETRY: Duration = Duration::from_millis(50);

/// One Redis command and where its answer goes.
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
    /// Records that this node has members in `room` (so they are reaped if it dies).
    Claim {
        room: String,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// This node has nobody in `room` any more.
    Release { room: String },
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
    /// Renews this node's liveness; the answer is the nodes whose liveness ran out.
    Beat {
        reply: oneshot::Sender<Result<Vec<String>, BrokerError>>,
    },
    /// The rooms `node` has members in.
    NodeRooms {
        node: String,
        reply: oneshot::Sender<Result<Vec<String>, BrokerError>>,
    },
    /// Every user `node` held in `room` leaves.
    Reap {
        room: String,
        node: String,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// Forgets `node` once its rooms are reaped: its liveness, then its rooms.
    Forget {
        node: String,
        rooms: bool,
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
    /// A failover lost acknowledged messages of `room` (its seq is below `below`): a new
    /// epoch, unless it was given one already; the answer is the room's epoch.
    Rewind {
        room: String,
        below: u64,
        reply: oneshot::Sender<Result<u64, BrokerError>>,
    },
    /// The rooms' positions (epoch, seq) now, to find what a lost subscription missed.
    Position {
        room: String,
        reply: oneshot::Sender<Result<Option<(u64, u64)>, BrokerError>>,
    },
}

impl Op {
    /// The pipeline group of the operation on a Redis Cluster: its room's hash tag, or the
    /// key it touches.
    fn group(&self, prefix: &str, node: &str) -> String {
        match self {
            Op::Publish { room, .. }
            | Op::Depart { room, .. }
            | Op::Update { room, .. }
            | Op::Ephemeral { room, .. }
            | Op::History { room, .. }
            | Op::Reap { room, .. }
            | Op::Members { room, .. }
            | Op::Rewind { room, .. }
            | Op::Position { room, .. } => format!("{{{room}}}"),
            Op::Sync { request, .. } => format!("{{{}}}", request.room),
            Op::Claim { .. } | Op::Release { .. } => keys::node_rooms(prefix, node),
            Op::NodeRooms { node, .. } => keys::node_rooms(prefix, node),
            Op::Forget { node, rooms, .. } if *rooms => keys::node_rooms(prefix, node),
            Op::Beat { .. } | Op::Forget { .. } => keys::alive(prefix),
            Op::Admin { .. } => keys::nodes_channel(prefix),
        }
    }
}

/// A connection to one Redis, or to a Redis Cluster (which routes each pipeline to the
/// shard of its keys and follows failovers).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// How to reach Redis.
#[derive(Clone)]
pub(crate) enum Target {
    Single(redis::Client),
    /// A Redis Cluster, by its seed nodes' URLs.
    Cluster(Vec<String>),
}

impl Target {
    /// The command that announces on a room's channel: sharded on a cluster.
    pub fn publish_command(&self) -> &'static str {
        match self {
            Target::Single(_) => "PUBLISH",
            Target::Cluster(_) => "SPUBLISH",
        }
    }

    /// A cluster's seed URLs (none for one Redis).
    pub fn seeds(&self) -> Vec<String> {
        match self {
            Target::Single(_) => Vec::new(),
            Target::Cluster(seeds) => seeds.clone(),
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let connecting = async {
            match self {
                Target::Single(c) => c.get_multiplexed_async_connection().await.map(Conn::Single),
                Target::Cluster(seeds) => {
                    // No retries: a script sent to a master that died may have run, and
                    // running it again would number the message twice. The operation fails
                    // (`unavailable`) and the client decides; the slot map is rebuilt.
                    let client = redis::cluster::ClusterClientBuilder::new(seeds.clone())
                        .connection_timeout(DEADLINE)
                        .response_timeout(DEADLINE)
                        .retries(0)
                        .build()?;
                    client.get_async_connection().await.map(Conn::Cluster)
                }
            }
        };
        match tokio::time::timeout(DEADLINE, connecting).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connecting to redis timed out".into()),
        }
    }
}

impl Conn {
    async fn query(&mut self, pipe: &Pipeline) -> redis::RedisResult<Vec<Value>> {
        match self {
            Conn::Single(c) => pipe.query_async(c).await,
            Conn::Cluster(c) => pipe.query_async(c).await,
        }
    }

    async fn load(&mut self, scripts: &Scripts) -> Result<(), String> {
        for script in scripts.all() {
            let loaded = match self {
                Conn::Single(c) => script.load_async(c).await,
                Conn::Cluster(c) => script.load_async(c).await,
            };
            loaded.map_err(|e| format!("loading scripts: {e}"))?;
        }
        Ok(())
    }
}

/// Queues one operation for the worker now, before the returned future is polled (so the
/// order of calls is the order in Redis); the future is its answer.
pub(crate) fn queue<T: Send + 'static>(
    ops: &mpsc::UnboundedSender<Op>,
    op: impl FnOnce(oneshot::Sender<Result<T, BrokerError>>) -> Op,
) -> BoxFuture<Result<T, BrokerError>> {
    let (reply, answer) = oneshot::channel();
    let queued = ops.send(op(reply)).is_ok();
    Box::pin(async move {
        let stopped = || BrokerError::Unavailable("the broker stopped".into());
        if !queued {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    })
}

/// What the scripts need besides each operation's own arguments.
pub(crate) struct Setup {
    pub target: Target,
    pub prefix: String,
    pub node: String,
    /// The rooms' defaults, and each room's policy (history bounds, member limit).
    pub hub: HubConfig,
    pub policies: RoomPolicies,
    pub liveness_ms: u64,
    /// Whether the last batch went through.
    pub ok: Arc<AtomicBool>,
}

/// Runs operations until every sender is gone.
pub(crate) async fn run(setup: Setup, ops: mpsc::UnboundedReceiver<Op>) {
    let setup = Arc::new(setup);
    let scripts = Arc::new(Scripts::new());
    match setup.target {
        Target::Single(_) => run_single(setup, scripts, ops).await,
        Target::Cluster(_) => run_cluster(setup, scripts, ops).await,
    }
}

/// One Redis: each batch is one pipeline, answered before the next goes.
async fn run_single(
    setup: Arc<Setup>,
    scripts: Arc<Scripts>,
    mut ops: mpsc::UnboundedReceiver<Op>,
) {
    let mut conn: Option<Conn> = None;
    let mut batch = Vec::with_capacity(BATCH);
    // An operation taken but left for the next batch (a join over SYNC_BATCH).
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
        let batch = std::mem::take(&mut batch);
        let ok = match connected(&setup, &mut conn, batch).await {
            Some((c, batch)) => send(&setup, &scripts, c, batch).await,
            None => false,
        };
        if !ok {
            // A fresh connection for the next batch.
            conn = None;
        }
        setup.ok.store(ok, Ordering::Relaxed);
    }
}

/// A Redis Cluster: each room's operations go as their own pipeline, one at a time per
/// room (its order), every room at once (a shard that is failing over holds up its own
/// rooms only).
async fn run_cluster(
    setup: Arc<Setup>,
    scripts: Arc<Scripts>,
    mut ops: mpsc::UnboundedReceiver<Op>,
) {
    let mut conn: Option<Conn> = None;
    let (done, mut finished) = mpsc::unbounded_channel::<String>();
    let mut busy: HashSet<String> = HashSet::new();
    let mut waiting: HashMap<String, VecDeque<Op>> = HashMap::new();
    let mut ready: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            op = ops.recv() => {
                let Some(op) = op else { break };
                let mut take = |op: Op| {
                    let g = op.group(&setup.prefix, &setup.node);
                    if !busy.contains(&g) && !ready.contains(&g) {
                        ready.push(g.clone());
                    }
                    waiting.entry(g).or_default().push_back(op);
                };
                take(op);
                for _ in 0..BATCH {
                    match ops.try_recv() {
                        Ok(op) => take(op),
                        Err(_) => break,
                    }
                }
            }
            group = finished.recv() => {
                let Some(group) = group else { break };
                busy.remove(&group);
                if waiting.get(&group).is_some_and(|w| !w.is_empty()) {
                    ready.push(group);
                }
            }
        }
        for group in ready.drain(..) {
            let Some(queue) = waiting.get_mut(&group) else {
                continue;
            };
            let mut batch = Vec::new();
            let mut syncs = 0;
            while let Some(op) = queue.pop_front() {
                if matches!(op, Op::Sync { .. }) {
                    if syncs == SYNC_BATCH {
                        queue.push_front(op);
                        break;
                    }
                    syncs += 1;
                }
                batch.push(op);
                if batch.len() == BATCH {
                    break;
                }
            }
            if queue.is_empty() {
                waiting.remove(&group);
            }
            let Some((c, batch)) = connected(&setup, &mut conn, batch).await else {
                // Failed: the group is free for its next operations.
                let _ = done.send(group.clone());
                busy.insert(group);
                continue;
            };
            busy.insert(group.clone());
            let (setup, scripts, done) = (setup.clone(), scripts.clone(), done.clone());
            tokio::spawn(async move {
                send(&setup, &scripts, c, batch).await;
                let _ = done.send(group);
            });
        }
    }
}

/// The connection, connecting first if needed; `None` (every operation failed) when
/// Redis cannot be reached.
async fn connected(
    setup: &Setup,
    conn: &mut Option<Conn>,
    batch: Vec<Op>,
) -> Option<(Conn, Vec<Op>)> {
    if let Some(c) = conn {
        return Some((c.clone(), batch));
    }
    match setup.target.connect().await {
        Ok(c) => Some((conn.insert(c).clone(), batch)),
        Err(e) => {
            tracing::warn!(error = %e, ops = batch.len(), "redis unreachable");
            for op in batch {
                fail(op, BrokerError::Unavailable(e.clone()));
            }
            None
        }
    }
}

/// Sends one pipeline of `ops` and answers each; returns whether it went through.
async fn send(setup: &Setup, scripts: &Scripts, mut c: Conn, ops: Vec<Op>) -> bool {
    let pipe = pipeline(setup, scripts, &ops);
    match query(scripts, &mut c, &pipe).await {
        Ok(values) => {
            answer(ops.into_iter(), values);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, ops = ops.len(), "redis pipeline failed");
            for op in ops {
                fail(op, BrokerError::Unavailable(e.clone()));
            }
            false
        }
    }
}

/// Sends the pipeline; loads the scripts once if Redis lost them (a restart, a promoted
/// replica) and tries again.
///
/// On a Redis Cluster, a pipeline refused before it ran (`MOVED`, `ASK`, `TRYAGAIN`,
/// `CLUSTERDOWN`, a refused connection: a failover under way) is sent again while the
/// client learns the new slot map, within the deadline; a pipeline that may have run (the
/// connection dropped after it was sent, a timeout) is never sent again.
async fn query(scripts: &Scripts, c: &mut Conn, pipe: &Pipeline) -> Result<Vec<Value>, String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut loaded = false;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.query(pipe)).await {
            Ok(Ok(values)) => return Ok(values),
            Ok(Err(e)) if !loaded && e.to_string().to_lowercase().contains("noscript") => {
                c.load(scripts).await?;
                loaded = true;
            }
            Ok(Err(e))
                if (e.is_cluster_error() || e.is_connection_refusal())
                    && matches!(c, Conn::Cluster(_)) =>
            {
                if tokio::time::Instant::now() + REFUSED_RETRY >= deadline {
                    return Err(e.to_string());
                }
                tokio::time::sleep(REFUSED_RETRY).await;
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("redis did not answer in time".into()),
        }
    }
}

/// One command per operation, in order.
fn pipeline(setup: &Setup, scripts: &Scripts, batch: &[Op]) -> Pipeline {
    let mut pipe = redis::pipe();
    let p = setup.prefix.as_str();
    let publish = setup.target.publish_command();
    // The epoch a room gets if Redis does not know it yet: one draw serves the batch (epochs
    // are compared within one room only), 53 bits so JavaScript numbers hold it.
    let new_epoch = random() >> 11;
    let policy = |room: &str| setup.policies.of(room, &setup.hub);
    for op in batch {
        match op {
            Op::Publish {
                room, head, tail, ..
            } => {
                let (k, h) = (RoomKeys::new(p, room), Limits::of(&policy(room)));
                let cmd = pipe.cmd("EVALSHA").arg(scripts.publish.get_hash()).arg(3);
                cmd.arg(&k.room).arg(&k.hist).arg(&k.hb);
                cmd.arg(keys::room_channel(p, room)).arg(publish).arg(room);
                cmd.arg(head).arg(tail).arg(h.len);
                cmd.arg(h.age_ms).arg(new_epoch).arg(h.bytes);
            }
            Op::Sync { request, .. } => {
                let room = &request.room;
                let policy = policy(room);
                let (k, h) = (RoomKeys::new(p, room), Limits::of(&policy));
                let meta = wire::member_data(request.meta.as_ref(), request.info.as_ref());
                let arrive = if request.arrive { "1" } else { "0" };
                let cmd = pipe.cmd("EVALSHA").arg(scripts.sync.get_hash()).arg(6);
                cmd.arg(&k.room).arg(&k.hist).arg(&k.hb);
                cmd.arg(&k.pm).arg(&k.pc).arg(&k.np);
                cmd.arg(keys::room_channel(p, room)).arg(publish).arg(room);
                cmd.arg(&request.user).arg(meta).arg(arrive);
                cmd.arg(&setup.node).arg(h.len);
                cmd.arg(h.age_ms).arg(new_epoch);
                cmd.arg(h.bytes).arg(wanted(request.start));
                cmd.arg(policy.max_members.unwrap_or(0));
            }
            Op::Claim { room, .. } => {
                pipe.cmd("SADD")
                    .arg(keys::node_rooms(p, &setup.node))
                    .arg(room);
            }
            Op::Release { room } => {
                pipe.cmd("SREM")
                    .arg(keys::node_rooms(p, &setup.node))
                    .arg(room)
                    .ignore();
            }
            Op::Update {
                room, user, meta, ..
            } => {
                let k = RoomKeys::new(p, room);
                let cmd = pipe.cmd("EVALSHA").arg(scripts.update.get_hash()).arg(2);
                cmd.arg(&k.pm).arg(&k.pc);
                cmd.arg(keys::room_channel(p, room)).arg(publish).arg(room);
                cmd.arg(user).arg(meta);
            }
            Op::Ephemeral { room, frame } => {
                let mut message =
                    format!("X{}:{}{}:{room}", setup.node.len(), setup.node, room.len())
                        .into_bytes();
                message.extend_from_slice(frame);
                pipe.cmd(publish)
                    .arg(keys::room_channel(p, room))
                    .arg(message)
                    .ignore();
            }
            Op::History {
                room,
                before,
                limit,
                ..
            } => {
                let (k, h) = (RoomKeys::new(p, room), Limits::of(&policy(room)));
                let cmd = pipe.cmd("EVALSHA").arg(scripts.history.get_hash()).arg(3);
                cmd.arg(&k.room).arg(&k.hist).arg(&k.hb);
                cmd.arg(keys::room_channel(p, room)).arg(publish);
                cmd.arg(before.map(|b| b.to_string()).unwrap_or_default());
                cmd.arg(*limit).arg(h.len).arg(h.age_ms).arg(h.bytes);
            }
            Op::Depart { room, user, .. } => {
                let k = RoomKeys::new(p, room);
                let cmd = pipe.cmd("EVALSHA").arg(scripts.depart.get_hash()).arg(3);
                cmd.arg(&k.np).arg(&k.pc).arg(&k.pm);
                cmd.arg(keys::room_channel(p, room)).arg(publish).arg(room);
                cmd.arg(&setup.node).arg(user);
            }
            Op::Reap { room, node, .. } => {
                let k = RoomKeys::new(p, room);
                let cmd = pipe.cmd("EVALSHA").arg(scripts.reap.get_hash()).arg(3);
                cmd.arg(&k.np).arg(&k.pc).arg(&k.pm);
                cmd.arg(keys::room_channel(p, room)).arg(publish).arg(room);
                cmd.arg(node);
            }
            Op::Beat { .. } => {
                let cmd = pipe.cmd("EVALSHA").arg(scripts.beat.get_hash()).arg(1);
                cmd.arg(keys::alive(p))
                    .arg(&setup.node)
                    .arg(setup.liveness_ms);
            }
            Op::NodeRooms { node, .. } => {
                pipe.cmd("SMEMBERS").arg(keys::node_rooms(p, node));
            }
            Op::Forget { node, rooms, .. } => {
                if *rooms {
                    pipe.cmd("DEL").arg(keys::node_rooms(p, node));
                } else {
                    pipe.cmd("HDEL").arg(keys::alive(p)).arg(node);
                }
            }
            Op::Admin { message, .. } => {
                pipe.cmd(publish).arg(keys::nodes_channel(p)).arg(message);
            }
            Op::Members { room, .. } => {
                pipe.cmd("HGETALL").arg(RoomKeys::new(p, room).pm);
            }
            Op::Rewind { room, below, .. } => {
                let cmd = pipe.cmd("EVALSHA").arg(scripts.rewind.get_hash()).arg(1);
                cmd.arg(RoomKeys::new(p, room).room)
                    .arg(*below)
                    .arg(new_epoch);
            }
            Op::Position { room, .. } => {
                pipe.cmd("HMGET")
                    .arg(RoomKeys::new(p, room).room)
                    .arg("epoch")
                    .arg("seq");
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

fn answer(batch: impl Iterator<Item = Op>, values: Vec<Value>) {
    let mut values = values.into_iter();
    // Ignored commands have no answer in the reply.
    for op in batch.filter(|op| !matches!(op, Op::Ephemeral { .. } | Op::Release { .. })) {
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
            Op::Depart { reply, .. }
            | Op::Claim { reply, .. }
            | Op::Reap { reply, .. }
            | Op::Forget { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            Op::Beat { reply } | Op::NodeRooms { reply, .. } => {
                let _ = reply.send(names(&value));
            }
            Op::Position { reply, .. } => {
                let _ = reply.send(position(&value));
            }
            Op::Rewind { reply, .. } => {
                let _ = reply.send(decimal(&value));
            }
            Op::Ephemeral { .. } | Op::Release { .. } => {}
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
        Op::Publish { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Beat { reply } | Op::NodeRooms { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Sync { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Depart { reply, .. }
        | Op::Update { reply, .. }
        | Op::Claim { reply, .. }
        | Op::Reap { reply, .. }
        | Op::Forget { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Position { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Op::Rewind { reply, .. } => {
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
        // Best effort: a lost ephemeral message is what ephemeral means; a room left in a
        // node's list is reaped for nothing.
        Op::Ephemeral { .. } | Op::Release { .. } => {}
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

/// A list of names (dead nodes, a node's rooms).
fn names(value: &Value) -> Result<Vec<String>, BrokerError> {
    let list = match value {
        Value::Array(list) | Value::Set(list) => list,
        _ => return Err(unexpected("a list of names")),
    };
    list.iter()
        .map(|v| {
            text(v)
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .ok_or_else(|| unexpected("a name"))
        })
        .collect()
}

/// A room's epoch and seq from `HMGET`, `None` for a room Redis does not know.
fn position(value: &Value) -> Result<Option<(u64, u64)>, BrokerError> {
    let Value::Array(parts) = value else {
        return Err(unexpected("position reply"));
    };
    match parts.as_slice() {
        [Value::Nil, _] => Ok(None),
        [epoch, Value::Nil] => Ok(Some((decimal(epoch)?, 0))),
        [epoch, seq] => Ok(Some((decimal(epoch)?, decimal(seq)?))),
        _ => Err(unexpected("position reply shape")),
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
