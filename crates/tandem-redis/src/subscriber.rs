//! A node's subscriptions: the operators' channel always, and each room's channel while
//! the node has members in it ([`Sub::Watch`] resolves once Redis confirmed the
//! subscription, so the node's joins snapshot the room only after its messages flow).
//!
//! On one Redis: one pub/sub connection with `SUBSCRIBE` per room; losing it is losing
//! Redis (`Down`, the node sends its clients away, `Up` once it is back and this node's
//! stale presence is reaped). On a Redis Cluster: the cluster client's RESP3 connection
//! with `SSUBSCRIBE` per room (each on its room's shard), which the client re-establishes
//! after a failover. A shard lost is not the cluster lost: rooms on other shards go on. What
//! a room's subscription may have missed meanwhile is found by comparing each room's
//! position in Redis with the newest seq seen ([`BrokerMessage::Position`]): the node then
//! sends that room's clients to resume. If a failover lost acknowledged messages (Redis
//! replicates asynchronously), the room's seq went back: the room gets a new epoch, so
//! every client resumes with `recovered: false` rather than missing them silently.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use core::time::Duration;
use futures_util::StreamExt;
use redis::{PushInfo, PushKind, Value};
use tandem_server::{BrokerError, BrokerMessage};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::keys;
use crate::wire;
use crate::worker::{Op, Target, queue};

/// Longest wait between attempts to reach Redis again.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How long a subscription request may take.
const SUBSCRIBE_DEADLINE: Duration = Duration::from_secs(3);
/// After a cluster connection dropped: how often, and how many times, every watched
/// room's position is checked (a failover takes the cluster node timeout and an election,
/// about two seconds with a 1 s node timeout).
const CHECK_EVERY: Duration = Duration::from_millis(500);
const CHECKS: u32 = 20;
/// How long a message published before a position was read may take to arrive (on
/// loopback it takes well under a millisecond; a busy node may take longer).
const SETTLE: Duration = Duration::from_millis(400);

/// What the broker asks of the subscriber.
pub(crate) enum Sub {
    Watch {
        room: String,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    Unwatch {
        room: String,
    },
}

/// Everything the subscriber task needs.
pub(crate) struct Subscriber {
    pub target: Target,
    pub prefix: String,
    pub node: String,
    pub ops: mpsc::UnboundedSender<Op>,
    pub subs: mpsc::UnboundedReceiver<Sub>,
    pub messages: broadcast::Sender<BrokerMessage>,
    pub subscribed: Arc<AtomicBool>,
    /// Bytes of bus messages received, for `RedisBroker::bus_bytes`.
    pub bytes: Arc<AtomicU64>,
}

/// The rooms watched and the newest seq seen in each (per epoch).
#[derive(Default)]
struct Watched {
    rooms: HashSet<String>,
    newest: HashMap<String, (u64, u64)>,
}

impl Watched {
    fn saw(&mut self, message: &BrokerMessage) {
        if let BrokerMessage::Event {
            room, epoch, seq, ..
        } = message
        {
            let e = self.newest.entry(room.clone()).or_insert((*epoch, 0));
            if e.0 != *epoch {
                *e = (*epoch, 0);
            }
            e.1 = e.1.max(*seq);
        }
    }

    fn forget(&mut self, room: &str) {
        self.rooms.remove(room);
        self.newest.remove(room);
    }
}

impl Subscriber {
    /// Runs until the broker is dropped.
    pub(crate) async fn run(self) {
        match self.target.clone() {
            Target::Single(client) => self.run_single(client).await,
            Target::Cluster(_) => self.run_cluster().await,
        }
    }

    /// Reads one bus message and hands it to the node.
    fn deliver(&self, payload: &[u8], watched: &mut Watched) -> bool {
        self.bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        match wire::parse_bus(payload, &self.node) {
            Ok(Some(m)) => {
                watched.saw(&m);
                self.messages.send(m).is_ok()
            }
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(error = %e, "skipped a bus message");
                true
            }
        }
    }

    async fn run_single(mut self, client: redis::Client) {
        let mut retry = Duration::from_millis(100);
        let mut reported = false;
        let mut watched = Watched::default();
        loop {
            match self.listen_single(&client, &watched).await {
                Ok(pubsub) => {
                    retry = Duration::from_millis(100);
                    reported = false;
                    let (mut sink, mut stream) = pubsub.split();
                    loop {
                        tokio::select! {
                            message = stream.next() => {
                                let Some(message) = message else { break };
                                if !self.deliver(message.get_payload_bytes(), &mut watched) {
                                    return;
                                }
                            }
                            sub = self.subs.recv() => match sub {
                                None => return,
                                Some(Sub::Watch { room, reply }) => {
                                    let channel = keys::room_channel(&self.prefix, &room);
                                    let done = tokio::time::timeout(
                                        SUBSCRIBE_DEADLINE, sink.subscribe(&channel)).await;
                                    let result = match done {
                                        Ok(Ok(())) => {
                                            watched.rooms.insert(room);
                                            Ok(())
                                        }
                                        Ok(Err(e)) => Err(BrokerError::Unavailable(e.to_string())),
                                        Err(_) => Err(BrokerError::Unavailable(
                                            "subscribing timed out".into())),
                                    };
                                    let failed = result.is_err();
                                    let _ = reply.send(result);
                                    if failed {
                                        break;
                                    }
                                }
                                Some(Sub::Unwatch { room }) => {
                                    watched.forget(&room);
                                    let channel = keys::room_channel(&self.prefix, &room);
                                    // Unconfirmed is fine: extra messages are skipped.
                                    let _ = tokio::time::timeout(
                                        SUBSCRIBE_DEADLINE, sink.unsubscribe(&channel)).await;
                                }
                            }
                        }
                    }
                    self.subscribed.store(false, Ordering::Relaxed);
                    tracing::warn!("redis subscription lost");
                    let why = "the redis subscription was lost".to_owned();
                    if self.messages.send(BrokerMessage::Down { why }).is_err() {
                        return;
                    }
                    // The node sends every client away: their rooms go (`Unwatch` follows).
                    watched = Watched::default();
                }
                Err(e) => {
                    if !reported {
                        tracing::warn!(error = %e, "redis unreachable; retrying");
                        reported = true;
                    }
                }
            }
            if self.ops.is_closed() {
                return;
            }
            // Requests meanwhile fail at once: nothing is delivered until Redis is back.
            let wait = tokio::time::sleep(retry);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    sub = self.subs.recv() => match sub {
                        None => return,
                        Some(Sub::Watch { reply, .. }) => {
                            let _ = reply.send(Err(BrokerError::Unavailable("redis unreachable".into())));
                        }
                        Some(Sub::Unwatch { room }) => watched.forget(&room),
                    }
                }
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// Subscribes to the operators' channel and every room still watched, then reaps what
    /// this node held in Redis before (its clients were sent away when Redis was lost) and
    /// renews its liveness.
    async fn listen_single(
        &self,
        client: &redis::Client,
        watched: &Watched,
    ) -> Result<redis::aio::PubSub, String> {
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(keys::nodes_channel(&self.prefix)).await?;
            for room in &watched.rooms {
                pubsub
                    .subscribe(keys::room_channel(&self.prefix, room))
                    .await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(SUBSCRIBE_DEADLINE, connect)
            .await
            .map_err(|_| "subscribing timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        self.rejoin().await?;
        Ok(pubsub)
    }

    /// Reaps this node's old presence, renews its liveness, says `Up`.
    async fn rejoin(&self) -> Result<(), String> {
        reap(&self.ops, &self.node)
            .await
            .map_err(|e| e.to_string())?;
        queue(&self.ops, |reply| Op::Beat { reply })
            .await
            .map_err(|e| e.to_string())?;
        self.subscribed.store(true, Ordering::Relaxed);
        tracing::info!("redis subscribed");
        let _ = self.messages.send(BrokerMessage::Up);
        Ok(())
    }

    async fn run_cluster(mut self) {
        let (pushes, mut pushed) = mpsc::unbounded_channel::<PushInfo>();
        let client = match cluster_with_pushes(&self.target, pushes) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "redis cluster client");
                return;
            }
        };
        let mut retry = Duration::from_millis(100);
        let mut watched = Watched::default();
        // Connect (every seed down is the cluster down).
        let mut conn = loop {
            let connecting = async {
                let mut c = client.get_async_connection().await?;
                c.ssubscribe(keys::nodes_channel(&self.prefix)).await?;
                Ok::<_, redis::RedisError>(c)
            };
            match tokio::time::timeout(SUBSCRIBE_DEADLINE, connecting).await {
                Ok(Ok(c)) => match self.rejoin().await {
                    Ok(()) => break c,
                    Err(e) => tracing::warn!(error = %e, "redis cluster: rejoining"),
                },
                Ok(Err(e)) => tracing::warn!(error = %e, "redis cluster unreachable; retrying"),
                Err(_) => tracing::warn!("redis cluster: connecting timed out; retrying"),
            }
            if self.ops.is_closed() {
                return;
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        };
        let mut checks_left = 0u32;
        // Rooms (and the operators' channel, as `None`) to subscribe to again: after a
        // shard's failover its channels live on the promoted replica.
        let mut resubscribe: HashSet<Option<String>> = HashSet::new();
        // Each watched room's position in Redis at the last check.
        let mut previous: HashMap<String, (u64, u64)> = HashMap::new();
        // When `previous` was read: compared only once messages then in flight had time to
        // arrive.
        let mut read_at = tokio::time::Instant::now();
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let checking = checks_left > 0 || !resubscribe.is_empty();
            tokio::select! {
                push = pushed.recv() => {
                    let Some(push) = push else { return };
                    if !self.on_push(push, &mut watched, &mut checks_left, &mut resubscribe) {
                        return;
                    }
                }
                _ = check.tick(), if checking => {
                    checks_left = checks_left.saturating_sub(1);
                    let mut still = HashSet::new();
                    for target in resubscribe.drain() {
                        let channel = match &target {
                            Some(room) if !watched.rooms.contains(room) => continue,
                            Some(room) => keys::room_channel(&self.prefix, room),
                            None => keys::nodes_channel(&self.prefix),
                        };
                        let done = tokio::time::timeout(CHECK_EVERY, conn.ssubscribe(&channel)).await;
                        if !matches!(done, Ok(Ok(()))) {
                            still.insert(target);
                        }
                    }
                    resubscribe = still;
                    // What came meanwhile counts before the comparison.
                    while let Ok(push) = pushed.try_recv() {
                        if !self.on_push(push, &mut watched, &mut checks_left, &mut resubscribe) {
                            return;
                        }
                    }
                    if read_at.elapsed() < SETTLE {
                        continue;
                    }
                    self.confirm(&mut previous, &watched);
                    // The last check only confirms what the one before it saw.
                    if checks_left > 0 || !resubscribe.is_empty() {
                        previous = self.positions(&mut watched).await;
                        read_at = tokio::time::Instant::now();
                    }
                }
                sub = self.subs.recv() => match sub {
                    None => return,
                    Some(Sub::Watch { room, reply }) => {
                        let channel = keys::room_channel(&self.prefix, &room);
                        let done = tokio::time::timeout(
                            SUBSCRIBE_DEADLINE, conn.ssubscribe(&channel)).await;
                        let result = match done {
                            Ok(Ok(())) => {
                                watched.rooms.insert(room);
                                Ok(())
                            }
                            Ok(Err(e)) => Err(BrokerError::Unavailable(e.to_string())),
                            Err(_) => Err(BrokerError::Unavailable("subscribing timed out".into())),
                        };
                        let _ = reply.send(result);
                    }
                    Some(Sub::Unwatch { room }) => {
                        watched.forget(&room);
                        previous.remove(&room);
                        let channel = keys::room_channel(&self.prefix, &room);
                        let _ = tokio::time::timeout(
                            SUBSCRIBE_DEADLINE, conn.sunsubscribe(&channel)).await;
                    }
                }
            }
        }
    }

    /// Handles one push of the cluster connection; `false` when the node is gone.
    fn on_push(
        &self,
        push: PushInfo,
        watched: &mut Watched,
        checks_left: &mut u32,
        resubscribe: &mut HashSet<Option<String>>,
    ) -> bool {
        match push.kind {
            PushKind::SMessage | PushKind::Message => {
                if let [_, Value::BulkString(payload)] = push.data.as_slice() {
                    return self.deliver(payload, watched);
                }
            }
            PushKind::Disconnection => {
                // A shard's connection dropped: its rooms' channels are subscribed again
                // once the slot has a master, and what they missed meanwhile shows in the
                // rooms' positions.
                tracing::info!("redis cluster: a connection dropped; checking rooms");
                *checks_left = CHECKS;
                resubscribe.insert(None);
                resubscribe.extend(watched.rooms.iter().cloned().map(Some));
            }
            _ => {}
        }
        true
    }

    /// Tells the node of each room whose position at the previous check is past what the
    /// node has seen since (a message in flight then has arrived by now: one that has not
    /// was missed), or on another epoch. The node compares with its own position too.
    fn confirm(&self, previous: &mut HashMap<String, (u64, u64)>, watched: &Watched) {
        for (room, (epoch, seq)) in previous.drain() {
            if !watched.rooms.contains(&room) {
                continue;
            }
            let behind = match watched.newest.get(&room) {
                Some((e, newest)) => *e != epoch || *newest < seq,
                None => seq > 0,
            };
            if behind {
                let _ = self
                    .messages
                    .send(BrokerMessage::Position { room, epoch, seq });
            }
        }
    }

    /// Every watched room's position in Redis now. A room whose seq went back below what
    /// this node saw on the same epoch lost acknowledged messages in a failover: it gets a
    /// new epoch at once, and the node hears of it.
    async fn positions(&self, watched: &mut Watched) -> HashMap<String, (u64, u64)> {
        let mut now = HashMap::new();
        let rooms: Vec<String> = watched.rooms.iter().cloned().collect();
        let asked = rooms.iter().map(|room| {
            queue(&self.ops, |reply| Op::Position {
                room: room.clone(),
                reply,
            })
        });
        let answers = futures_util::future::join_all(asked).await;
        for (room, answer) in rooms.into_iter().zip(answers) {
            let Ok(Some((epoch, seq))) = answer else {
                continue;
            };
            match watched.newest.get(&room).copied() {
                Some((e, newest)) if e == epoch && seq < newest => {
                    let rewound = queue(&self.ops, |reply| Op::Rewind {
                        room: room.clone(),
                        below: newest,
                        reply,
                    });
                    if let Ok(new_epoch) = rewound.await {
                        tracing::warn!(%room, newest, seq, "redis lost acknowledged messages of the room in a failover: new epoch");
                        watched.newest.insert(room.clone(), (new_epoch, seq));
                        let position = BrokerMessage::Position {
                            room,
                            epoch: new_epoch,
                            seq,
                        };
                        let _ = self.messages.send(position);
                    }
                }
                _ => {
                    now.insert(room, (epoch, seq));
                }
            }
        }
        now
    }
}

/// The cluster client again, with RESP3 and the pushes (messages, disconnections) sent to
/// `pushes`.
fn cluster_with_pushes(
    target: &Target,
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> Result<redis::cluster::ClusterClient, String> {
    let Target::Cluster(_) = target else {
        return Err("not a cluster".into());
    };
    let seeds = target.seeds();
    redis::cluster::ClusterClientBuilder::new(seeds)
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(pushes)
        .build()
        .map_err(|e| e.to_string())
}

/// Every user `node` held leaves every room (it died, or lost Redis and sent its clients
/// away), then the node's room list goes.
pub(crate) async fn reap(ops: &mpsc::UnboundedSender<Op>, node: &str) -> Result<(), BrokerError> {
    let rooms = queue(ops, |reply| Op::NodeRooms {
        node: node.to_owned(),
        reply,
    })
    .await?;
    let reaped = rooms.into_iter().map(|room| {
        queue(ops, |reply| Op::Reap {
            room,
            node: node.to_owned(),
            reply,
        })
    });
    for result in futures_util::future::join_all(reaped).await {
        result?;
    }
    queue(ops, |reply| Op::Forget {
        node: node.to_owned(),
        rooms: true,
        reply,
    })
    .await
}
