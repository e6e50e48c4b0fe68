//! [`RedisBroker`]: the `Broker` a node of a cluster runs with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use core::time::Duration;
use futures_util::StreamExt;
use tandem_proto::{
    HistoryPage, HubConfig, Member, Payload, RoomPolicies, RoomState, encode_event_around_seq,
};
use tandem_server::{
    AdminMessage, BoxFuture, Broker, BrokerError, BrokerMessage, ClusterBroker, SyncRequest,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::RedisBrokerError;
use crate::wire;
use crate::worker::{self, Op, Setup};

/// Messages a node may fall behind on before it counts as having lost some.
const NODE_QUEUE: usize = 16_384;
/// Longest wait between attempts to reach Redis again.
const MAX_RETRY: Duration = Duration::from_secs(2);

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
    client: redis::Client,
    options: RedisOptions,
    node: String,
    ops: mpsc::UnboundedSender<Op>,
    pending: Mutex<Option<mpsc::UnboundedReceiver<Op>>>,
    messages: broadcast::Sender<BrokerMessage>,
    subscribed: Arc<AtomicBool>,
    commands_ok: Arc<AtomicBool>,
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
    /// A broker for the Redis at `url` (`redis://host:port[/db]`) with default options.
    /// Nothing connects until a server attaches it; Redis may come up later.
    pub fn new(url: &str) -> Result<Self, RedisBrokerError> {
        Self::with_options(url, RedisOptions::default())
    }

    /// A broker for the Redis at `url` with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, RedisBrokerError> {
        let client = redis::Client::open(url).map_err(|e| RedisBrokerError::BadUrl {
            url: url.to_owned(),
            detail: e.to_string(),
        })?;
        let node = options.node.clone().unwrap_or_else(random_node);
        let (ops, pending) = mpsc::unbounded_channel();
        let (messages, _) = broadcast::channel(NODE_QUEUE);
        Ok(RedisBroker {
            client,
            options,
            node,
            ops,
            pending: Mutex::new(Some(pending)),
            messages,
            subscribed: Arc::new(AtomicBool::new(false)),
            commands_ok: Arc::new(AtomicBool::new(true)),
        })
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
        let Some(ops) = pending else {
            tracing::error!("a RedisBroker serves one node; attached twice");
            return receiver;
        };
        let liveness = self
            .options
            .liveness
            .unwrap_or(rooms.presence_timeout)
            .max(Duration::from_secs(1));
        let setup = Setup {
            client: self.client.clone(),
            prefix: self.options.prefix.clone(),
            node: self.node.clone(),
            hub: *rooms,
            policies: policies.clone(),
            liveness_ms: u64::try_from(liveness.as_millis()).unwrap_or(u64::MAX),
            ok: self.commands_ok.clone(),
        };
        tokio::spawn(worker::run(setup, ops));
        tokio::spawn(subscribe(
            self.client.clone(),
            format!("{}:bus", self.options.prefix),
            self.node.clone(),
            self.ops.clone(),
            self.messages.clone(),
            self.subscribed.clone(),
        ));
        tokio::spawn(beat(self.ops.clone(), liveness / 3));
        tracing::info!(node = %self.node, prefix = %self.options.prefix, "redis broker attached");
        receiver
    }

    fn broadcast(&self, room: String, data: Arc<Payload>) -> BoxFuture<Result<(), BrokerError>> {
        let numbered = self.publish_frame(room, None, &data);
        Box::pin(async move { numbered.await.map(drop) })
    }

    fn is_healthy(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed) && self.commands_ok.load(Ordering::Relaxed)
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
}

fn random_node() -> String {
    format!("{:08x}", worker::random() as u32)
}

/// Queues one operation for the worker now, before the returned future is polled (so the
/// order of calls is the order in Redis); the future is its answer.
fn queue<T: Send + 'static>(
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

/// Listens on the bus and tells the node; on losing it, says `Down`, and once it is back
/// (and this node's stale presence is cleared), `Up`.
async fn subscribe(
    client: redis::Client,
    channel: String,
    me: String,
    ops: mpsc::UnboundedSender<Op>,
    node: broadcast::Sender<BrokerMessage>,
    subscribed: Arc<AtomicBool>,
) {
    let mut retry = Duration::from_millis(100);
    let mut reported = false;
    loop {
        match listen(&client, &channel, &ops).await {
            Ok(mut pubsub) => {
                subscribed.store(true, Ordering::Relaxed);
                tracing::info!("redis bus subscribed");
                let _ = node.send(BrokerMessage::Up);
                retry = Duration::from_millis(100);
                reported = false;
                let mut stream = pubsub.on_message();
                while let Some(message) = stream.next().await {
                    match wire::parse_bus(message.get_payload_bytes(), &me) {
                        Ok(Some(m)) => {
                            if node.send(m).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "skipped a bus message"),
                    }
                }
                subscribed.store(false, Ordering::Relaxed);
                tracing::warn!("redis bus lost");
                let why = "the redis subscription was lost".to_owned();
                if node.send(BrokerMessage::Down { why }).is_err() {
                    return;
                }
            }
            Err(e) => {
                if !reported {
                    tracing::warn!(error = %e, "redis unreachable; retrying");
                    reported = true;
                }
            }
        }
        if ops.is_closed() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Subscribes, then clears what this node held in Redis before (its clients were sent
/// away when Redis was lost) and renews its liveness.
async fn listen(
    client: &redis::Client,
    channel: &str,
    ops: &mpsc::UnboundedSender<Op>,
) -> Result<redis::aio::PubSub, String> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let pubsub = tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .map_err(|_| "subscribing timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    queue(ops, |reply| Op::Reclaim { reply })
        .await
        .map_err(|e| e.to_string())?;
    queue(ops, |reply| Op::Beat { reply })
        .await
        .map_err(|e| e.to_string())?;
    Ok(pubsub)
}

/// Renews this node's liveness and reaps dead nodes, every `every`.
async fn beat(ops: mpsc::UnboundedSender<Op>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queue(&ops, |reply| Op::Beat { reply }).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "reaped nodes whose liveness expired"),
            Err(e) => tracing::debug!(error = %e, "liveness not renewed"),
        }
        if ops.is_closed() {
            return;
        }
    }
}
