//! [`RedisBroker`]: the `Broker` a node of a cluster runs with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use core::time::Duration;
use tandem_proto::{
    HistoryPage, HubConfig, Member, Payload, RoomPolicies, RoomState, encode_event_around_seq,
};
use tandem_server::{
    AdminMessage, BoxFuture, Broker, BrokerError, BrokerMessage, ClusterBroker, SyncRequest,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::RedisBrokerError;
use crate::keys;
use crate::subscriber::{Sub, Subscriber, reap};
use crate::wire;
use crate::worker::{self, Op, Setup, Target, queue};

/// Messages a node may fall behind on before it counts as having lost some.
const NODE_QUEUE: usize = 16_384;

/// Settings of a [`RedisBroker`]. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key and of the channel: nodes with the same prefix form one
    /// cluster. Default `"tandem"`.
    pub prefix: String,
    /// This node's name, unique in the cluster. Default: random.
    pub node: Option<String>,
    /// How long a node that stops renewing its liveness stays counted as alive (its
    /// members then leave). Default: the presence timeout, at least one second.
    pub liveness: Option<Duration>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: String::from("tandem"),
            node: None,
            liveness: None,
        }
    }
}

/// A `Broker` over one Redis: see the crate docs.
pub struct RedisBroker {
    target: Target,
    options: RedisOptions,
    node: String,
    ops: mpsc::UnboundedSender<Op>,
    subs: mpsc::UnboundedSender<Sub>,
    pending: Mutex<Option<(mpsc::UnboundedReceiver<Op>, mpsc::UnboundedReceiver<Sub>)>>,
    messages: broadcast::Sender<BrokerMessage>,
    subscribed: Arc<AtomicBool>,
    commands_ok: Arc<AtomicBool>,
    bus_bytes: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("node", &self.node)
            .field("prefix", &self.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker for the Redis at `url` with default options: one Redis
    /// (`redis://host:port[/db]`), or a Redis Cluster by any of its nodes
    /// (`redis+cluster://host1:port1,host2:port2,...`). Nothing connects until a server
    /// attaches it; Redis may come up later.
    pub fn new(url: &str) -> Result<Self, RedisBrokerError> {
        Self::with_options(url, RedisOptions::default())
    }

    /// A broker for the Redis at `url` with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, RedisBrokerError> {
        let bad = |detail: String| RedisBrokerError::BadUrl {
            url: url.to_owned(),
            detail,
        };
        if !keys::valid_prefix(&options.prefix) {
            return Err(bad(format!(
                "the key prefix {:?} must be non-empty and have no braces",
                options.prefix
            )));
        }
        let target = match url.strip_prefix("redis+cluster://") {
            Some(nodes) => {
                let seeds: Vec<String> = nodes
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("redis://{n}"))
                    .collect();
                if seeds.is_empty() {
                    return Err(bad("no cluster node given".into()));
                }
                redis::cluster::ClusterClient::new(seeds.clone())
                    .map_err(|e| bad(e.to_string()))?;
                Target::Cluster(seeds)
            }
            None => Target::Single(redis::Client::open(url).map_err(|e| bad(e.to_string()))?),
        };
        let node = options.node.clone().unwrap_or_else(random_node);
        let (ops, pending_ops) = mpsc::unbounded_channel();
        let (subs, pending_subs) = mpsc::unbounded_channel();
        let (messages, _) = broadcast::channel(NODE_QUEUE);
        Ok(RedisBroker {
            target,
            options,
            node,
            ops,
            subs,
            pending: Mutex::new(Some((pending_ops, pending_subs))),
            messages,
            subscribed: Arc::new(AtomicBool::new(false)),
            commands_ok: Arc::new(AtomicBool::new(true)),
            bus_bytes: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Whether this broker is on a Redis Cluster (`redis+cluster://`).
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// Bytes of bus messages this node received so far: its rooms' channels and the
    /// operators' channel (a node receives only the rooms it has members in).
    pub fn bus_bytes(&self) -> u64 {
        self.bus_bytes.load(Ordering::Relaxed)
    }

    fn ask<T: Send + 'static>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, BrokerError>>) -> Op,
    ) -> BoxFuture<Result<T, BrokerError>> {
        queue(&self.ops, op)
    }

    fn publish_frame(
        &self,
        room: String,
        from: Option<&str>,
        data: &Payload,
    ) -> BoxFuture<Result<u64, BrokerError>> {
        let (head, tail) = encode_event_around_seq(&room, from, data);
        self.ask(|reply| Op::Publish {
            room,
            head,
            tail,
            reply,
        })
    }
}

impl Broker for RedisBroker {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn node(&self) -> &str {
        &self.node
    }

    fn attach(
        &self,
        rooms: &HubConfig,
        policies: &RoomPolicies,
    ) -> broadcast::Receiver<BrokerMessage> {
        let receiver = self.messages.subscribe();
        let pending = self.pending.lock().map(|mut p| p.take()).unwrap_or(None);
        let Some((ops, subs)) = pending else {
            tracing::error!("a RedisBroker serves one node; attached twice");
            return receiver;
        };
        let liveness = self
            .options
            .liveness
            .unwrap_or(rooms.presence_timeout)
            .max(Duration::from_secs(1));
        let setup = Setup {
            target: self.target.clone(),
            prefix: self.options.prefix.clone(),
            node: self.node.clone(),
            hub: *rooms,
            policies: policies.clone(),
            liveness_ms: u64::try_from(liveness.as_millis()).unwrap_or(u64::MAX),
            ok: self.commands_ok.clone(),
        };
        tokio::spawn(worker::run(setup, ops));
        let subscriber = Subscriber {
            target: self.target.clone(),
            prefix: self.options.prefix.clone(),
            node: self.node.clone(),
            ops: self.ops.clone(),
            subs,
            messages: self.messages.clone(),
            subscribed: self.subscribed.clone(),
            bytes: self.bus_bytes.clone(),
        };
        tokio::spawn(subscriber.run());
        tokio::spawn(beat(self.ops.clone(), liveness / 3));
        tracing::info!(node = %self.node, prefix = %self.options.prefix, "redis broker attached");
        receiver
    }

    fn broadcast(&self, room: String, data: Arc<Payload>) -> BoxFuture<Result<(), BrokerError>> {
        let numbered = self.publish_frame(room, None, &data);
        Box::pin(async move { numbered.await.map(drop) })
    }

    fn is_healthy(&self) -> bool {
        // On a cluster a failed batch is one shard's trouble, not the node's: rooms on the
        // other shards go on, and the failed operations got their errors.
        self.subscribed.load(Ordering::Relaxed)
            && (self.is_cluster() || self.commands_ok.load(Ordering::Relaxed))
    }
}

impl ClusterBroker for RedisBroker {
    fn publish(
        &self,
        room: String,
        from: String,
        data: Payload,
    ) -> BoxFuture<Result<u64, BrokerError>> {
        self.publish_frame(room, Some(&from), &data)
    }

    fn sync(&self, request: SyncRequest) -> BoxFuture<Result<RoomState, BrokerError>> {
        if request.arrive {
            // Listed first, so a node that dies after the arrival is reaped from the room.
            let room = request.room.clone();
            let (reply, _) = oneshot::channel();
            let _ = self.ops.send(Op::Claim { room, reply });
        }
        self.ask(|reply| Op::Sync { request, reply })
    }

    fn depart(&self, room: String, user: String) -> BoxFuture<Result<(), BrokerError>> {
        self.ask(|reply| Op::Depart { room, user, reply })
    }

    fn update(
        &self,
        room: String,
        user: String,
        meta: Payload,
        info: Option<Payload>,
    ) -> BoxFuture<Result<(), BrokerError>> {
        let meta = wire::member_data(Some(&meta), info.as_ref());
        self.ask(|reply| Op::Update {
            room,
            user,
            meta,
            reply,
        })
    }

    fn ephemeral(&self, room: String, frame: Bytes) {
        // Lost only if the worker is gone, when the node is stopping anyway.
        let _ = self.ops.send(Op::Ephemeral { room, frame });
    }

    fn history(
        &self,
        room: String,
        before: Option<u64>,
        limit: u32,
    ) -> BoxFuture<Result<HistoryPage, BrokerError>> {
        self.ask(|reply| Op::History {
            room,
            before,
            limit,
            reply,
        })
    }

    fn admin(&self, message: AdminMessage) -> BoxFuture<Result<usize, BrokerError>> {
        let Some(message) = wire::write_admin(&message) else {
            let why = "an admin action this tandem-redis does not know".to_owned();
            return Box::pin(async move { Err(BrokerError::Unavailable(why)) });
        };
        self.ask(|reply| Op::Admin { message, reply })
    }

    fn members(&self, room: String) -> BoxFuture<Result<Vec<Member>, BrokerError>> {
        self.ask(|reply| Op::Members { room, reply })
    }

    fn watch(&self, room: String) -> BoxFuture<Result<(), BrokerError>> {
        let (reply, answer) = oneshot::channel();
        let asked = self.subs.send(Sub::Watch { room, reply }).is_ok();
        Box::pin(async move {
            let stopped = || BrokerError::Unavailable("the broker stopped".into());
            if !asked {
                return Err(stopped());
            }
            answer.await.unwrap_or_else(|_| Err(stopped()))
        })
    }

    fn unwatch(&self, room: String) {
        let _ = self.ops.send(Op::Release { room: room.clone() });
        let _ = self.subs.send(Sub::Unwatch { room });
    }
}

fn random_node() -> String {
    format!("{:08x}", worker::random() as u32)
}

/// Renews this node's liveness and reaps dead nodes, every `every`.
async fn beat(ops: mpsc::UnboundedSender<Op>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queue(&ops, |reply| Op::Beat { reply }).await {
            Ok(dead) => {
                for node in dead {
                    // Its members leave room by room, then it is forgotten; a node that
                    // dies halfway is reaped again by the next beat.
                    let reaped = reap(&ops, &node).await;
                    let forgotten = queue(&ops, |reply| Op::Forget {
                        node: node.clone(),
                        rooms: false,
                        reply,
                    });
                    match reaped {
                        Ok(()) if forgotten.await.is_ok() => {
                            tracing::info!(%node, "reaped a node whose liveness expired");
                        }
                        _ => tracing::debug!(%node, "reaping a node: to be continued"),
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "liveness not renewed"),
        }
        if ops.is_closed() {
            return;
        }
    }
}
