//! The handle the application keeps to a running server: broadcast, ask a client, count
//! connections.

use std::sync::Arc;

use serde::Serialize;
use tandem_proto::{ConnId, Payload};
use tokio::sync::{mpsc, oneshot};

use crate::command::Command;
use crate::error::ServerError;
use crate::shared::Shared;

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
}
