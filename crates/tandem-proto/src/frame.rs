//! The envelope types: every frame that crosses the wire, one struct per kind.
//!
//! On the wire each frame is one JSON object `{"v":1,"k":"<kind>", ...fields}`; see
//! PROTOCOL.md. Application payloads (`data`, `meta`) are carried as raw JSON
//! ([`Payload`]) so the core never re-parses them and the server forwards them as bytes.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
pub use crate::payload::Payload;

/// A correlation id chosen by the sender of a join, leave, publish or request.
pub type Id = u64;

/// An optional payload that is present even when it is JSON `null` (absent is `None`,
/// `null` is `Some(null)`), so a request can be answered with `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Payload>, D::Error> {
    Payload::deserialize(d).map(Some)
}

/// The wire format version carried as `"v"` in every frame.
pub const WIRE_VERSION: u32 = 1;

/// The kind of a frame, the `"k"` field on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Client → server: first frame, carries the app schema offer and the token.
    Hello,
    /// Server → client: the handshake succeeded.
    Welcome,
    /// Client → server: subscribe to a room.
    Join,
    /// Client → server: subscribe again, replaying from a known position.
    Resume,
    /// Server → client: a join or resume succeeded.
    Joined,
    /// Client → server: unsubscribe.
    Leave,
    /// Server → client: a leave succeeded.
    Left,
    /// Client → server: broadcast to a room.
    Publish,
    /// Server → client: a publish was accepted and sequenced.
    Ack,
    /// Server → client: a message broadcast in a room.
    Event,
    /// Either way: a request expecting one response.
    Request,
    /// Either way: the answer to a request.
    Response,
    /// Server → client: members joined or left a room.
    Presence,
    /// Either way: are you there?
    Ping,
    /// Either way: yes.
    Pong,
    /// Server → client: something went wrong, with a stable code.
    Error,
    /// Client → server: change this member's presence metadata.
    Update,
    /// Client → server: a page of a room's stored messages.
    History,
    /// Server → client: the answer to `history`.
    Page,
    /// Server → client: the session's token expires soon; send `token`.
    Refresh,
    /// Client → server: a fresh token for the open session.
    Token,
    /// Server → client: the server removed this connection from a room.
    Unsubscribed,
    /// Server → client: a message from the server to this user, outside any room.
    Message,
}

impl Kind {
    /// Every kind, in the order PROTOCOL.md lists them.
    pub const ALL: [Kind; 23] = [
        Kind::Hello,
        Kind::Welcome,
        Kind::Join,
        Kind::Resume,
        Kind::Joined,
        Kind::Leave,
        Kind::Left,
        Kind::Publish,
        Kind::Ack,
        Kind::Event,
        Kind::Request,
        Kind::Response,
        Kind::Presence,
        Kind::Ping,
        Kind::Pong,
        Kind::Error,
        Kind::Update,
        Kind::History,
        Kind::Page,
        Kind::Refresh,
        Kind::Token,
        Kind::Unsubscribed,
        Kind::Message,
    ];

    /// The wire name of the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Welcome => "welcome",
            Kind::Join => "join",
            Kind::Resume => "resume",
            Kind::Joined => "joined",
            Kind::Leave => "leave",
            Kind::Left => "left",
            Kind::Publish => "publish",
            Kind::Ack => "ack",
            Kind::Event => "event",
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Presence => "presence",
            Kind::Ping => "ping",
            Kind::Pong => "pong",
            Kind::Error => "error",
            Kind::Update => "update",
            Kind::History => "history",
            Kind::Page => "page",
            Kind::Refresh => "refresh",
            Kind::Token => "token",
            Kind::Unsubscribed => "unsubscribed",
            Kind::Message => "message",
        }
    }

    /// Whether clients send frames of this kind (what a server reads).
    pub const fn sent_by_client(self) -> bool {
        matches!(
            self,
            Kind::Hello
                | Kind::Join
                | Kind::Resume
                | Kind::Leave
                | Kind::Publish
                | Kind::Request
                | Kind::Response
                | Kind::Ping
                | Kind::Pong
                | Kind::Update
                | Kind::History
                | Kind::Token
        )
    }

    /// Whether servers send frames of this kind (what a client reads).
    pub const fn sent_by_server(self) -> bool {
        matches!(
            self,
            Kind::Welcome
                | Kind::Joined
                | Kind::Left
                | Kind::Ack
                | Kind::Event
                | Kind::Request
                | Kind::Response
                | Kind::Presence
                | Kind::Ping
                | Kind::Pong
                | Kind::Error
                | Kind::Page
                | Kind::Refresh
                | Kind::Unsubscribed
                | Kind::Message
        )
    }

    /// The kind with this wire name, if any.
    pub fn from_wire(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl core::fmt::Display for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The application schema a client offers: its name and the versions it speaks, preferred first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOffer {
    /// The schema's name, e.g. `"whiteboard"`.
    pub name: String,
    /// Versions the client speaks, most preferred first.
    pub versions: Vec<u32>,
}

/// The application schema the server selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSelected {
    /// The schema's name.
    pub name: String,
    /// The one version both sides speak.
    pub version: u32,
}

/// `hello`: the client's first frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The application schema offer.
    pub app: AppOffer,
    /// A bearer token for the server's auth hook, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Heartbeat timings the server asks the client to keep, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatTimings {
    /// The client pings when a direction has been quiet this long.
    pub interval_ms: u64,
    /// After a ping, a peer silent this long is dead.
    pub timeout_ms: u64,
}

/// Limits the server announces so the client can refuse oversize work locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedLimits {
    /// The largest frame the server accepts, in bytes.
    pub max_frame_bytes: usize,
    /// Frames per second the server accepts from this connection, sustained: a client
    /// paces what it sends to stay within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u32>,
    /// Frames the server accepts at once above that rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_burst: Option<u32>,
}

/// `welcome`: the handshake succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's id for this connection.
    pub session: String,
    /// The authenticated user id.
    pub user: String,
    /// The application schema both sides speak.
    pub app: AppSelected,
    /// The heartbeat the client must keep.
    pub heartbeat: HeartbeatTimings,
    /// Limits the server enforces.
    pub limits: AnnouncedLimits,
}

/// `join`: subscribe to a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Join {
    /// Correlation id, echoed by `joined` or `error`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// Presence metadata for this member, if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub meta: Option<Payload>,
    /// How many recent messages to replay after `joined` (0 or absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<u32>,
}

/// `resume`: subscribe again, replaying everything after a known position.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resume {
    /// Correlation id, echoed by `joined` or `error`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// The room epoch the position belongs to.
    pub epoch: u64,
    /// The last sequence number the client has seen.
    pub seq: u64,
    /// Presence metadata for this member, if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub meta: Option<Payload>,
}

/// One presence member: a user, whatever number of connections it has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// The user id.
    pub user: String,
    /// The metadata given at join by the user's first connection.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub meta: Option<Payload>,
    /// Presence data the token's issuer set (its `info` claim): the client cannot change it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub info: Option<Payload>,
}

/// `joined`: a join or resume succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    /// The id of the join or resume.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// The room's epoch: sequence numbers are comparable only within one epoch.
    pub epoch: u64,
    /// The room's sequence number before any replayed event that follows.
    pub seq: u64,
    /// For a resume: whether every missed message follows (`true`) or a gap was lost (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// The presence snapshot (empty in a room without presence).
    pub presence: Vec<Member>,
    /// What the room allows and keeps (tandem servers always send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// A room's policy as `joined` announces it (PROTOCOL.md §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Most messages the room keeps for replay and paging (0: none).
    pub history: u64,
    /// How long a message stays stored, in milliseconds.
    pub history_ms: u64,
    /// Most bytes of history the room keeps.
    pub history_bytes: u64,
    /// Whether numbered publishes are allowed (`false`: the room takes only ephemeral ones).
    pub numbered: bool,
    /// Whether the room keeps presence (`false`: no snapshot, no diffs, no updates).
    pub presence: bool,
    /// Most members (users) the room admits, if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members: Option<u64>,
}

/// `leave`: unsubscribe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Leave {
    /// Correlation id, echoed by `left`.
    pub id: Id,
    /// The room's name.
    pub room: String,
}

/// `left`: a leave succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Left {
    /// The id of the leave.
    pub id: Id,
    /// The room's name.
    pub room: String,
}

/// `publish`: broadcast a payload to everyone in a room (the publisher included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publish {
    /// Correlation id, echoed by `ack` or `error`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// The application payload.
    pub data: Payload,
    /// `true`: an ephemeral message: no seq, not stored, not replayed, no `ack` unless
    /// `ack` asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    /// For an ephemeral message: `true` asks for an `ack` (numbered ones always get one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<bool>,
}

impl Publish {
    /// Whether the message is ephemeral.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral == Some(true)
    }
}

/// `ack`: a publish or an update was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ack {
    /// The id of the publish or update.
    pub id: Id,
    /// The sequence number a numbered message got in its room (absent for an ephemeral
    /// message and an update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `event`: a message broadcast in a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// The room's name.
    pub room: String,
    /// The message's sequence number in the room; absent for an ephemeral message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The user who published it, if a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The application payload.
    pub data: Payload,
}

/// `request`: ask the peer something; exactly one `response` with the same id follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Correlation id, unique per direction and connection.
    pub id: Id,
    /// The room the request is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The application payload.
    pub data: Payload,
}

/// The error half of a response or an `error` frame's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

/// `response`: the answer to a request, either `data` or `error`.
///
/// On the wire `result` is two optional fields, `data` and `error`: when both are present
/// `error` wins, and when neither is the response is a failure with
/// [`ErrorCode::MissingField`] (PROTOCOL.md §3.12).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "WireResponse")]
pub struct Response {
    /// The id of the request.
    pub id: Id,
    /// The answer (`data` on the wire) or why the request failed (`error`).
    pub result: Result<Payload, ErrorBody>,
}

impl Response {
    /// A response from its two wire fields, by the rule above: the one place it lives
    /// (the codec and serde both read through it).
    pub(crate) fn from_wire(id: Id, data: Option<Payload>, error: Option<ErrorBody>) -> Self {
        let result = match (data, error) {
            (_, Some(e)) => Err(e),
            (Some(d), None) => Ok(d),
            (None, None) => Err(ErrorBody {
                code: ErrorCode::MissingField,
                message: "response has neither data nor error".into(),
            }),
        };
        Response { id, result }
    }
}

/// A response's fields as the wire has them, for serde (the codec reads and writes them
/// by hand, checked against these).
#[derive(Deserialize)]
struct WireResponse {
    id: Id,
    #[serde(default, deserialize_with = "present")]
    data: Option<Payload>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

impl From<WireResponse> for Response {
    fn from(w: WireResponse) -> Self {
        Response::from_wire(w.id, w.data, w.error)
    }
}

impl Serialize for Response {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Response", 2)?;
        out.serialize_field("id", &self.id)?;
        match &self.result {
            Ok(data) => out.serialize_field("data", data)?,
            Err(error) => out.serialize_field("error", error)?,
        }
        out.end()
    }
}

/// `presence`: a diff of a room's members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// The room's name.
    pub room: String,
    /// Members that arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<Member>,
    /// Members that went away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<Member>,
    /// Members whose metadata changed, with the new metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updated: Vec<Member>,
}

/// `update`: replace this user's presence metadata in a room it has joined.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Update {
    /// Correlation id, echoed by `ack` or `error`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// The new metadata (`null` is a value).
    pub meta: Payload,
}

/// `history`: ask for a page of a room's stored messages, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    /// Correlation id, echoed by `page` or `error`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// Only messages with a seq below this one (absent: from the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Most messages in the page (absent or over the server's maximum: the maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `page`: the answer to `history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    /// The id of the `history`.
    pub id: Id,
    /// The room's name.
    pub room: String,
    /// The room's epoch the seqs belong to.
    pub epoch: u64,
    /// The messages, oldest first, each an `event` as it was sent.
    pub events: Vec<Event>,
    /// Whether older messages are stored.
    pub more: bool,
}

/// `refresh`: the session's token expires in `expires_in_ms`; the client answers with
/// `token` before then, or the server closes the connection with 4002.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refresh {
    /// Milliseconds until the token expires.
    pub expires_in_ms: u64,
}

/// `token`: a fresh token for the open session (after `refresh`, or whenever the client
/// has one), answered by `ack` or `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    /// Correlation id, echoed by `ack` or `error`.
    pub id: Id,
    /// The token, for the same user as the session's.
    pub token: String,
}

/// `unsubscribed`: the server removed this connection from a room (an operator, or a
/// fresh token without the room); the client does not rejoin it by itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unsubscribed {
    /// The room's name.
    pub room: String,
    /// Why, for people.
    pub message: String,
}

/// `message`: the server's message to this user, on every connection of the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// The application payload.
    pub data: Payload,
}

/// `error`: something failed. With `id`, it answers that frame; without, it is about the connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// The id of the frame this answers, if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    /// The room concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// A stable, machine-readable code.
    pub code: ErrorCode,
    /// A human-readable explanation naming the cause.
    pub message: String,
}

/// Any frame of the protocol.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Welcome`].
    Welcome(Welcome),
    /// See [`Join`].
    Join(Join),
    /// See [`Resume`].
    Resume(Resume),
    /// See [`Joined`].
    Joined(Joined),
    /// See [`Leave`].
    Leave(Leave),
    /// See [`Left`].
    Left(Left),
    /// See [`Publish`].
    Publish(Publish),
    /// See [`Ack`].
    Ack(Ack),
    /// See [`Event`].
    Event(Event),
    /// See [`Request`].
    Request(Request),
    /// See [`Response`].
    Response(Response),
    /// See [`Presence`].
    Presence(Presence),
    /// A heartbeat probe; the peer answers [`Frame::Pong`].
    Ping,
    /// The answer to [`Frame::Ping`].
    Pong,
    /// See [`ErrorFrame`].
    Error(ErrorFrame),
    /// See [`Update`].
    Update(Update),
    /// See [`History`].
    History(History),
    /// See [`Page`].
    Page(Page),
    /// See [`Refresh`].
    Refresh(Refresh),
    /// See [`Token`].
    Token(Token),
    /// See [`Unsubscribed`].
    Unsubscribed(Unsubscribed),
    /// See [`Message`].
    Message(Message),
}

impl Frame {
    /// The frame's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Frame::Hello(_) => Kind::Hello,
            Frame::Welcome(_) => Kind::Welcome,
            Frame::Join(_) => Kind::Join,
            Frame::Resume(_) => Kind::Resume,
            Frame::Joined(_) => Kind::Joined,
            Frame::Leave(_) => Kind::Leave,
            Frame::Left(_) => Kind::Left,
            Frame::Publish(_) => Kind::Publish,
            Frame::Ack(_) => Kind::Ack,
            Frame::Event(_) => Kind::Event,
            Frame::Request(_) => Kind::Request,
            Frame::Response(_) => Kind::Response,
            Frame::Presence(_) => Kind::Presence,
            Frame::Ping => Kind::Ping,
            Frame::Pong => Kind::Pong,
            Frame::Error(_) => Kind::Error,
            Frame::Update(_) => Kind::Update,
            Frame::History(_) => Kind::History,
            Frame::Page(_) => Kind::Page,
            Frame::Refresh(_) => Kind::Refresh,
            Frame::Token(_) => Kind::Token,
            Frame::Unsubscribed(_) => Kind::Unsubscribed,
            Frame::Message(_) => Kind::Message,
        }
    }
}
