//! The core task: the one owner of the protocol [`tandem_proto::Server`]. Connection tasks,
//! hooks and handles talk to it through [`Command`]s; it writes frames into each
//! connection's bounded outbox.

use std::collections::HashMap;
use std::sync::Arc;

use core::time::Duration;
use tandem_proto::{
    ConnId, Delivery, ErrorBody, ErrorCode, FrameClass, Id, Instant, Payload, PublishDecision,
    Recipients, Server as Protocol, ServerEvent, ServerTransmit, close,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Instrument;

use crate::broker::Reach;
use crate::broker::{AdminMessage, BrokerError, BrokerMessage, ClusterBroker, SyncRequest};
use crate::clock::Clock;
use crate::command::Command;
use crate::error::AuthError;
use crate::handle::Handle;
use crate::hooks::{Hello, Hooks, JoinContext, PublishContext, RequestContext, Upgrade};
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
    /// The upgrade headers of each connection whose hello a backend's connect hook will
    /// decide, until it does (empty without such a hook).
    upgrades: HashMap<ConnId, Box<Upgrade>>,
    /// The close codes of connections gone since the last `drain`, for the disconnect
    /// hook (empty without one).
    close_codes: HashMap<ConnId, u16>,
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
            upgrades: HashMap::new(),
            close_codes: HashMap::new(),
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
            Command::Upgrade { conn, upgrade } => {
                // Its `Connect` comes next; its `Closed` or hello's decision clears it.
                self.upgrades.insert(conn, upgrade);
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
                self.upgrades.remove(&conn);
                if let (Some(code), true) = (code, self.hooks.disconnect.is_some()) {
                    self.close_codes.insert(conn, code);
                }
                p.handle_closed(now, conn, code);
            }
            Command::Authenticated { conn, result } => {
                match result {
                    Ok(who) => {
                        // Only while the connection is open: its `Closed` clears them.
                        let admission = who.admission(now, unix_now());
                        if let (Some(claims), true) =
                            (who.claims, self.outboxes.contains_key(&conn))
                        {
                            self.claims.insert(conn, claims);
                        }
                        p.accept_with(now, conn, admission);
                    }
                    Err(AuthError::Expired) => {
                        p.reject(now, conn, ErrorCode::TokenExpired, "token expired")
                    }
                    Err(AuthError::Unavailable(why)) => {
                        p.reject(now, conn, ErrorCode::Unavailable, why)
                    }
                    Err(e) => p.reject(now, conn, ErrorCode::Unauthorized, e.to_string()),
                }
                self.spans.name(conn, p);
            }
            Command::Reauthenticated { conn, id, result } => {
                let result = match result {
                    Ok(who) => {
                        if let (Some(claims), true) =
                            (who.claims.clone(), self.outboxes.contains_key(&conn))
                        {
                            self.claims.insert(conn, claims);
                        }
                        Ok(who.admission(now, unix_now()))
                    }
                    Err(e) => Err(auth_refusal(e)),
                };
                p.handle_reauthenticated(now, conn, id, result);
            }
            Command::JoinDecided { conn, id, result } => match result {
                Ok(()) => p.allow_join(now, conn, id),
                Err(why) => p.deny_join(now, conn, id, why),
            },
            Command::PublishDecided { conn, id, decision } => {
                p.decide_publish(now, conn, id, decision);
            }
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
            Command::Watched { room, result } => p.handle_watched(now, &room, result),
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
            Command::Admin { message, reply } => match &self.cluster {
                // Every node, this one included, applies it when the broker hands it back.
                Some(cluster) => {
                    let spread = cluster.admin(message);
                    tokio::spawn(async move {
                        let _ = reply.send(spread.await.map(Reach::Nodes));
                    });
                }
                None => {
                    let n = apply(p, now, &message);
                    let _ = reply.send(Ok(Reach::Connections(n)));
                }
            },
            Command::Members { room, reply } => match &self.cluster {
                // This node's hub knows only the rooms it has members in.
                Some(cluster) => {
                    let members = cluster.members(room);
                    tokio::spawn(async move {
                        let _ = reply.send(members.await);
                    });
                }
                None => {
                    let _ = reply.send(Ok(p.members(&room)));
                }
            },
            Command::History {
                room,
                before,
                limit,
                reply,
            } => {
                // The same bound as a client's `history` frame.
                let limit = limit.min(p.config().hub.max_page);
                match &self.cluster {
                    Some(cluster) => {
                        let metrics = &self.handle.shared().metrics;
                        let page =
                            metrics.timed(BrokerOp::History, cluster.history(room, before, limit));
                        tokio::spawn(async move {
                            let _ = reply.send(page.await);
                        });
                    }
                    None => {
                        let _ = reply.send(Ok(p.page(&room, before, limit)));
                    }
                }
            }
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
            BrokerMessage::Position { room, epoch, seq } => {
                p.handle_remote_position(now, &room, epoch, seq);
            }
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
            BrokerMessage::Admin(message) => {
                apply(p, now, &message);
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
                            // The connection task sends no `Closed` after a close
                            // the core ordered: what is kept per connection goes now.
                            self.upgrades.remove(&conn);
                            self.claims.remove(&conn);
                            if self.hooks.disconnect.is_some() {
                                self.close_codes.insert(conn, code);
                            }
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
        // Their `Disconnected` events, if any, came in the loop above.
        self.close_codes.clear();
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
                let upgrade = self.upgrades.remove(&conn);
                if let Some(hook) = self.hooks.connect.clone() {
                    let hello = Hello {
                        conn: Some(conn),
                        token,
                        upgrade,
                    };
                    let work = async move {
                        let result = hook(hello).await;
                        let _ = commands.send(Command::Authenticated { conn, result }).await;
                    };
                    tokio::spawn(work.instrument(self.spans.of(conn)));
                    return;
                }
                let Some(hook) = self.hooks.auth.clone() else {
                    return;
                };
                let work = async move {
                    let result = hook(token).await;
                    let _ = commands.send(Command::Authenticated { conn, result }).await;
                };
                tokio::spawn(work.instrument(self.spans.of(conn)));
            }
            ServerEvent::Reauthenticate { conn, id, token } => {
                let Some(hook) = self.hooks.auth.clone() else {
                    let result = Err(AuthError::Invalid("this server takes no tokens".into()));
                    let _ = commands.try_send(Command::Reauthenticated { conn, id, result });
                    return;
                };
                let work = async move {
                    let result = hook(Some(token)).await;
                    let _ = commands
                        .send(Command::Reauthenticated { conn, id, result })
                        .await;
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
            ServerEvent::AuthorizePublish {
                conn,
                user,
                id,
                room,
                data,
                ephemeral,
            } => {
                let Some(hook) = self.hooks.publish.clone() else {
                    // Asked only with a publish hook; never leave a publish held.
                    let now = self.clock.now();
                    let decision = PublishDecision::Allow;
                    self.protocol.decide_publish(now, conn, id, decision);
                    return;
                };
                let ctx = PublishContext {
                    conn,
                    user,
                    room,
                    data,
                    ephemeral,
                };
                let work = async move {
                    let decision = hook(ctx).await;
                    let decided = Command::PublishDecided { conn, id, decision };
                    let _ = commands.send(decided).await;
                };
                tokio::spawn(work.instrument(self.spans.of(conn)));
            }
            ServerEvent::Disconnected { conn, user } => {
                let code = self.close_codes.remove(&conn);
                if let Some(hook) = self.hooks.disconnect.clone() {
                    tokio::spawn(hook(conn, user, code).instrument(self.spans.of(conn)));
                }
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
            | ServerEvent::Watch { .. }
            | ServerEvent::Unwatch { .. }
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

/// Applies an operator's action to this node's connections; returns how many it touched.
fn apply(p: &mut Protocol, now: Instant, message: &AdminMessage) -> usize {
    let (what, user, n) = match message {
        AdminMessage::Disconnect { user, reason } => {
            let n = p.disconnect_user(now, user, close::DISCONNECTED, reason);
            ("disconnected", user, n)
        }
        AdminMessage::Unsubscribe {
            user,
            room,
            message,
        } => {
            let n = p.unsubscribe_user(now, user, room, message);
            ("unsubscribed", user, n)
        }
        AdminMessage::Send { user, data } => ("sent to", user, p.send_to_user(user, data)),
    };
    // An operator's action on someone's sessions belongs in the logs; the payload does not.
    if n > 0 {
        tracing::info!(%user, connections = n, "admin: {what} a user");
    }
    n
}

/// The seconds since the Unix epoch now (a token's `exp` is counted so).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A refused token as the client sees it.
fn auth_refusal(e: AuthError) -> ErrorBody {
    match e {
        AuthError::Expired => ErrorBody {
            code: ErrorCode::TokenExpired,
            message: "token expired".into(),
        },
        AuthError::Unavailable(_) => ErrorBody {
            code: ErrorCode::Unavailable,
            message: e.to_string(),
        },
        e => ErrorBody {
            code: ErrorCode::Unauthorized,
            message: e.to_string(),
        },
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
            info,
            arrive,
            start,
        } => {
            let request = SyncRequest {
                room,
                user,
                meta,
                info,
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
            info,
        } => {
            let recorded = metrics.timed(
                BrokerOp::Update,
                cluster.update(room.clone(), user, meta, info),
            );
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
        ServerEvent::Watch { room } => {
            let watching = metrics.timed(BrokerOp::Watch, cluster.watch(room.clone()));
            tokio::spawn(async move {
                let result = watching.await.map_err(unavailable);
                let _ = commands.send(Command::Watched { room, result }).await;
            });
        }
        ServerEvent::Unwatch { room } => cluster.unwatch(room),
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
