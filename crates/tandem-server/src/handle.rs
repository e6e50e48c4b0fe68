//! The handle the application keeps to a running server: broadcast, ask a client, count
//! connections, and act on live sessions as an operator (disconnect a user, unsubscribe
//! one from a room, send to one, read a room's members and history) on every node.

use std::sync::Arc;

use serde::Serialize;
use tandem_proto::{ConnId, HistoryPage, Member, Payload};
use tokio::sync::{mpsc, oneshot};

use crate::broker::AdminMessage;
use crate::broker::Reach;
use crate::command::Command;
use crate::error::ServerError;
use crate::shared::Shared;

/// The close reason [`Handle::disconnect_user`] gives.
const DISCONNECT_REASON: &str = "disconnected by the server";
/// The `unsubscribed` message [`Handle::unsubscribe`] gives.
const UNSUBSCRIBE_MESSAGE: &str = "removed from the room by the server";

/// A cheap, cloneable handle to a running server.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn new(commands: mpsc::Sender<Command>, shared: Arc<Shared>) -> Self {
        Handle { commands, shared }
    }

    pub(crate) fn commands(&self) -> &mpsc::Sender<Command> {
        &self.commands
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Open WebSocket connections right now.
    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Broadcasts `data` in `room` on the server's behalf, through the broker (so every
    /// node's members receive it).
    pub async fn broadcast<T: Serialize + ?Sized>(
        &self,
        room: &str,
        data: &T,
    ) -> Result<(), ServerError> {
        let data =
            tandem_proto::encode_payload(data).map_err(|e| ServerError::Payload(e.to_string()))?;
        self.shared
            .broker
            .broadcast(room.to_owned(), Arc::new(data))
            .await
            .map_err(ServerError::Broker)
    }

    /// Asks the client on `conn` something and waits for its answer (or the protocol's
    /// request timeout).
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        conn: ConnId,
        room: Option<&str>,
        data: &T,
    ) -> Result<Payload, ServerError> {
        let data =
            tandem_proto::encode_payload(data).map_err(|e| ServerError::Payload(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                conn,
                room: room.map(str::to_owned),
                data,
                reply,
            })
            .await
            .map_err(|_| ServerError::Stopped)?;
        answer
            .await
            .map_err(|_| ServerError::Stopped)?
            .map_err(ServerError::Client)
    }

    /// Applies an operator's action to the live sessions of every node: on a standalone
    /// node here, on a node of a cluster through the broker (each node, this one
    /// included, applies it to its own connections).
    pub async fn admin(&self, message: AdminMessage) -> Result<Reach, ServerError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Command::Admin { message, reply }, answer).await
    }

    /// Closes every connection of `user`, on every node, with 4003
    /// ([`tandem_proto::close::DISCONNECTED`]): the client does not reconnect by itself.
    pub async fn disconnect_user(&self, user: &str) -> Result<Reach, ServerError> {
        self.admin(AdminMessage::Disconnect {
            user: user.to_owned(),
            reason: DISCONNECT_REASON.to_owned(),
        })
        .await
    }

    /// Removes `user` from `room` on every node: each of its connections in the room gets
    /// `unsubscribed` and does not rejoin by itself; its other rooms are untouched.
    pub async fn unsubscribe(&self, user: &str, room: &str) -> Result<Reach, ServerError> {
        self.admin(AdminMessage::Unsubscribe {
            user: user.to_owned(),
            room: room.to_owned(),
            message: UNSUBSCRIBE_MESSAGE.to_owned(),
        })
        .await
    }

    /// Sends `data` to every connection of `user`, on every node, as a `message` frame
    /// (not numbered, not stored: a user with no connection open gets nothing).
    pub async fn send_to_user<T: Serialize + ?Sized>(
        &self,
        user: &str,
        data: &T,
    ) -> Result<Reach, ServerError> {
        let data =
            tandem_proto::encode_payload(data).map_err(|e| ServerError::Payload(e.to_string()))?;
        self.admin(AdminMessage::Send {
            user: user.to_owned(),
            data,
        })
        .await
    }

    /// The members of `room` (presence) on every node: on a node of a cluster as the
    /// broker records them.
    pub async fn members(&self, room: &str) -> Result<Vec<Member>, ServerError> {
        let (reply, answer) = oneshot::channel();
        let room = room.to_owned();
        self.ask(Command::Members { room, reply }, answer).await
    }

    /// A page of `room`'s stored messages: the newest `limit` (at most the hub's
    /// `max_page`) with a seq below `before` (`None`: from the newest), as encoded
    /// `event` frames, oldest first. On a node of a cluster, from the broker.
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, ServerError> {
        let (reply, answer) = oneshot::channel();
        let room = room.to_owned();
        let command = Command::History {
            room,
            before,
            limit,
            reply,
        };
        self.ask(command, answer).await
    }

    /// Sends `command` to the core and waits for its answer.
    async fn ask<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, crate::broker::BrokerError>>,
    ) -> Result<T, ServerError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ServerError::Stopped)?;
        answer
            .await
            .map_err(|_| ServerError::Stopped)?
            .map_err(ServerError::Broker)
    }
}
