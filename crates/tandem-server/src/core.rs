//! The core task: the one owner of the protocol [`tandem_proto::Server`]. Connection tasks,
//! hooks and handles talk to it through [`Command`]s; it writes frames into each
//! connection's bounded outbox.

use std::collections::HashMap;
use std::sync::Arc;

use core::time::Duration;
use tandem_proto::{
    ConnId, Delivery, ErrorBody, ErrorCode, FrameClass, Id, Payload, Recipients,
    Server as Protocol, ServerEvent, ServerTransmit,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Instrument;

use crate::broker::{BrokerError, BrokerMessage, ClusterBroker, SyncRequest};
use crate::clock::Clock;
use crate::command::Command;
use crate::error::AuthError;
use crate::handle::Handle;
use crate::hooks::{Hooks, JoinContext, RequestContext};
use crate::metrics::{BrokerOp, CoreCounters, Metrics, Side, Snapshot};
use crate::outbox::{Outbox, PushError};
use crate::spans::Spans;
use crate::token::Claims;

/// How long clients are told to wait before reconnecting while the broker is down.
const BROKER_RETRY: Duration = Duration::from_secs(1);

/// A broker failure as the client sees it.
fn unavailable(e: BrokerError) -> ErrorBody {
    match e {
        BrokerError::RoomFull => ErrorBody {
            code: ErrorCode::RoomFull,
            message: e.to_string(),
        },
        _ => ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("{e}; try again"),
        },
    }
}

pub(crate) struct Core {
    protocol: Protocol,
    /// The cluster's broker, on a node of a cluster (only such a node's protocol asks
    /// for publishes, syncs and departures).
    cluster: Option<Arc<dyn ClusterBroker>>,
    clock: Clock,
    hooks: Hooks,
    handle: Handle,
    outboxes: HashMap<ConnId, Outbox>,
    asks: HashMap<(ConnId, Id), oneshot::Sender<Result<Payload, ErrorBody>>>,
    slow: Vec<ConnId>,
    /// The claims of each open connection whose token had any (kept for the hooks; the
    /// rights in them are not enforced yet).
    claims: HashMap<ConnId, Arc<Claims>>,
    /// What the core counts for `/metrics` (plain numbers: only this task writes them).
    counters: CoreCounters,
    spans: Spans,
}

impl Core {
    pub fn new(
        protocol: Protocol,
        cluster: Option<Arc<dyn ClusterBroker>>,
        clock: Clock,
        hooks: Hooks,
        handle: Handle,
    ) -> Self {
        Core {
            protocol,
            cluster,
            clock,
            hooks,
            handle,
            outboxes: HashMap::new(),
            asks: HashMap::new(),
            slow: Vec::new(),
            claims: HashMap::new(),
            counters: CoreCounters::default(),
            spans: Spans::default(),
        }
    }

    /// Runs until [`Command::Stop`] or until every sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed = None;
        loop {
            let deadline = self.protocol.poll_timeout();
            if deadline != armed {
                armed = deadline;
                if let Some(at) = deadline {
                    sleep.as_mut().reset(self.clock.deadline(at));
                }
            }
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if matches!(command, Command::Stop) { break }
                    self.handle_command(command);
                    // Take whatever else is waiting before writing out, up to a bound.
                    for _ in 0..256 {
                        match commands.try_recv() {
                            Ok(Command::Stop) => return,
                            Ok(command) => self.handle_command(command),
                            Err(_) => break,
                        }
                    }
                }
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.protocol.handle_timeout(self.clock.now());
                }
            }
            self.drain();
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = self.clock.now();
        let p = &mut self.protocol;
        match command {
            Command::Connect {
                conn,
                protocol,
                outbox,
                identity,
                span,
            } => {
                self.outboxes.insert(conn, outbox);
                self.counters.connects += 1;
                self.spans.open(conn, span);
                p.handle_connect_as(now, conn, protocol, identity);
                self.spans.name(conn, p);
            }
            Command::Text { conn, text } => {
                self.counters.received(text.len());
                p.handle_message(now, conn, text.as_bytes());
                self.spans.name(conn, p);
            }
            Command::Binary { conn } => p.handle_binary(now, conn),
            Command::Unreadable { conn, why } => p.handle_unreadable(now, conn, why),
            Command::Closed { conn, code } => {
                self.outboxes.remove(&conn);
                self.counters.closed(Side::Client, code);
                self.spans.close(conn);
                self.claims.remove(&conn);
                p.handle_closed(now, conn, code);
            }
            Command::Authenticated { conn, result } => {
                match result {
                    Ok(who) => {
                        // Only while the connection is open: its `Closed` clears them.
                        if let (Some(claims), true) =
                            (who.claims, self.outboxes.contains_key(&conn))
                        {
                            self.claims.insert(conn, claims);
                        }
                        p.accept(now, conn, who.user)
                    }
                    Err(AuthError::Expired) => {
                        p.reject(now, conn, ErrorCode::TokenExpired, "token expired")
                    }
                    Err(e) => p.reject(now, conn, ErrorCode::Unauthorized, e.to_string()),
                }
                self.spans.name(conn, p);
            }
            Command::JoinDecided { conn, id, result } => match result {
                Ok(()) => p.allow_join(now, conn, id),
                Err(why) => p.deny_join(now, conn, id, why),
            },
            Command::Respond { conn, id, result } => p.respond(conn, id, result),
            Command::Request {
                conn,
                room,
                data,
                reply,
            } => match p.request(now, conn, room, data) {
                Some(id) => {
                    self.asks.insert((conn, id), reply);
                }
                None => {
                    let _ = reply.send(Err(ErrorBody {
                        code: ErrorCode::Unavailable,
                        message: format!("connection {conn} is not open"),
                    }));
                }
            },
            Command::Broker(message) => self.handle_broker(message),
            Command::Published {
                conn,
                id,
                room,
                result,
            } => p.handle_published(conn, id, room, result),
            Command::Synced { conn, id, result } => p.handle_synced(now, conn, id, result),
            Command::Updated {
                conn,
                id,
                room,
                result,
            } => p.handle_updated(conn, id, room, result),
            Command::Paged {
                conn,
                id,
                room,
                result,
            } => p.handle_history(conn, id, room, result),
            Command::Shutdown { code, hint } => p.shutdown(now, code, hint),
            Command::Metrics { reply } => {
                let _ = reply.send(Snapshot::of(p, &self.counters));
            }
            Command::Stop => {}
        }
    }

    fn handle_broker(&mut self, message: BrokerMessage) {
        let now = self.clock.now();
        let p = &mut self.protocol;
        match message {
            BrokerMessage::Broadcast { room, data } => {
                p.broadcast(now, &room, &data);
            }
            BrokerMessage::Event {
                room,
                epoch,
                seq,
                frame,
            } => p.handle_remote_event(now, &room, epoch, seq, frame),
            BrokerMessage::Member { room, change } => p.handle_remote_member(now, &room, change),
            BrokerMessage::Ephemeral { room, frame } => {
                p.handle_remote_ephemeral(now, &room, frame);
            }
            BrokerMessage::Down { why } => {
                tracing::warn!(%why, connections = p.connection_count(),
                    "broker down: closing every connection with 1013 until it is back");
                p.set_unavailable(now, Some(("broker unavailable", BROKER_RETRY)));
            }
            BrokerMessage::Up => {
                tracing::info!("broker reachable: accepting connections");
                p.set_unavailable(now, None);
            }
        }
    }

    /// Writes out every transmit and starts every hook the protocol asked for.
    fn drain(&mut self) {
        loop {
            while let Some(t) = self.protocol.poll_transmit() {
                match t {
                    ServerTransmit::Frame(d) => self.deliver(d),
                    ServerTransmit::Close { conn, code, reason } => {
                        if let Some(outbox) = self.outboxes.remove(&conn) {
                            self.counters.closed(Side::Server, Some(code));
                            self.spans.close(conn);
                            outbox.close(code, reason);
                        }
                    }
                }
            }
            while let Some(e) = self.protocol.poll_event() {
                self.dispatch(e);
            }
            if self.slow.is_empty() {
                break;
            }
            let now = self.clock.now();
            for conn in std::mem::take(&mut self.slow) {
                self.counters.slow_consumers += 1;
                let _span = self.spans.of(conn).entered();
                tracing::debug!(conn, "slow consumer: outbound queue full");
                self.protocol.handle_slow_consumer(now, conn);
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let Ok(text) = Utf8Bytes::try_from(d.frame) else {
            tracing::error!("the protocol produced a frame that is not UTF-8; dropped");
            return;
        };
        match d.to {
            Recipients::One(conn) => self.push(conn, text, d.class),
            to => {
                for conn in to.iter() {
                    self.push(conn, text.clone(), d.class);
                }
            }
        }
    }

    fn push(&mut self, conn: ConnId, frame: Utf8Bytes, class: FrameClass) {
        if let Some(outbox) = self.outboxes.get(&conn) {
            let bytes = frame.len();
            match outbox.push_counted(frame, class) {
                Ok(depth) => self.counters.pushed(class, bytes, depth),
                // Reported once: the outbox refuses everything after, until the close.
                Err(PushError::Full) if self.slow.contains(&conn) => self.counters.refused += 1,
                Err(PushError::Full) => {
                    self.counters.refused += 1;
                    self.slow.push(conn);
                }
                // The connection task is gone; its `Closed` is on the way.
                Err(PushError::Gone) => {}
                // An ephemeral frame shed for a reader that is behind: by design.
                Err(PushError::Shed) => self.counters.shed += 1,
            }
        }
    }

    fn dispatch(&mut self, event: ServerEvent) {
        let commands = self.handle.commands().clone();
        match event {
            ServerEvent::Authenticate { conn, token } => {
                let Some(hook) = self.hooks.auth.clone() else {
                    return;
                };
                let work = async move {
                    let result = hook(token).await;
                    let _ = commands.send(Command::Authenticated { conn, result }).await;
                };
                tokio::spawn(work.instrument(self.spans.of(conn)));
            }
            ServerEvent::AuthorizeJoin {
                conn,
                user,
                id,
                room,
            } => {
                let Some(hook) = self.hooks.join.clone() else {
                    return;
                };
                let claims = self.claims.get(&conn).cloned();
                let work = async move {
                    let ctx = JoinContext {
                        conn,
                        user,
                        room,
                        claims,
                    };
                    let result = hook(ctx).await;
                    let _ = commands
                        .send(Command::JoinDecided { conn, id, result })
                        .await;
                };
                tokio::spawn(work.instrument(self.spans.of(conn)));
            }
            ServerEvent::Request {
                conn,
                user,
                id,
                room,
                data,
            } => {
                let Some(hook) = self.hooks.request.clone() else {
                    return;
                };
                let ctx = RequestContext {
                    conn,
                    user,
                    room,
                    claims: self.claims.get(&conn).cloned(),
                    server: self.handle.clone(),
                };
                let work = async move {
                    let result = hook(ctx, data).await;
                    let _ = commands.send(Command::Respond { conn, id, result }).await;
                };
                tokio::spawn(work.instrument(self.spans.of(conn)));
            }
            ServerEvent::Publish { .. }
            | ServerEvent::Sync { .. }
            | ServerEvent::Depart { .. }
            | ServerEvent::Update { .. }
            | ServerEvent::Ephemeral { .. }
            | ServerEvent::History { .. } => match &self.cluster {
                Some(cluster) => {
                    let metrics = &self.handle.shared().metrics;
                    ask_cluster(cluster.as_ref(), metrics, event, commands);
                }
                None => tracing::error!("a standalone node asked its broker a cluster's job"),
            },
            ServerEvent::Response { conn, id, result } => {
                if let Some(reply) = self.asks.remove(&(conn, id)) {
                    let _ = reply.send(result);
                }
            }
            _ => {}
        }
    }
}

/// Hands a cluster node's `Publish`, `Sync` or `Depart` to the broker; the answer comes back
/// to the core as a command. Asked now, so one node's publishes are numbered in the order
/// they came. Each call is timed into `metrics`.
fn ask_cluster(
    cluster: &dyn ClusterBroker,
    metrics: &Metrics,
    event: ServerEvent,
    commands: mpsc::Sender<Command>,
) {
    match event {
        ServerEvent::Publish {
            conn,
            id,
            room,
            from,
            data,
        } => {
            let numbered =
                metrics.timed(BrokerOp::Publish, cluster.publish(room.clone(), from, data));
            tokio::spawn(async move {
                let result = numbered.await.map_err(unavailable);
                let answer = Command::Published {
                    conn,
                    id,
                    room,
                    result,
                };
                let _ = commands.send(answer).await;
            });
        }
        ServerEvent::Sync {
            conn,
            id,
            room,
            user,
            meta,
            arrive,
            start,
        } => {
            let request = SyncRequest {
                room,
                user,
                meta,
                arrive,
                start,
            };
            let synced = metrics.timed(BrokerOp::Sync, cluster.sync(request));
            tokio::spawn(async move {
                let result = synced.await.map_err(unavailable);
                let _ = commands.send(Command::Synced { conn, id, result }).await;
            });
        }
        ServerEvent::Update {
            conn,
            id,
            room,
            user,
            meta,
        } => {
            let recorded =
                metrics.timed(BrokerOp::Update, cluster.update(room.clone(), user, meta));
            tokio::spawn(async move {
                let result = recorded.await.map_err(unavailable);
                let answer = Command::Updated {
                    conn,
                    id,
                    room,
                    result,
                };
                let _ = commands.send(answer).await;
            });
        }
        ServerEvent::Ephemeral { room, frame } => cluster.ephemeral(room, frame),
        ServerEvent::History {
            conn,
            id,
            room,
            before,
            limit,
        } => {
            let page = metrics.timed(
                BrokerOp::History,
                cluster.history(room.clone(), before, limit),
            );
            tokio::spawn(async move {
                let result = page.await.map_err(unavailable);
                let answer = Command::Paged {
                    conn,
                    id,
                    room,
                    result,
                };
                let _ = commands.send(answer).await;
            });
        }
        ServerEvent::Depart { room, user } => {
            let departed =
                metrics.timed(BrokerOp::Depart, cluster.depart(room.clone(), user.clone()));
            tokio::spawn(async move {
                if let Err(e) = departed.await {
                    // The broker clears this node's presence when it is back.
                    tracing::warn!(%room, %user, error = %e, "departure not recorded");
                }
            });
        }
        _ => {}
    }
}
