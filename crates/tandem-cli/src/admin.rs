//! `tandem serve --admin-addr`: an HTTP API for operators over the admin operations of
//! [`Handle`] (disconnect a user, unsubscribe one from a room, send to one, read a room's
//! members and history). On a node of a cluster each acts on every node.
//!
//! Every answer is JSON; a failure is `{"error": {"code", "message"}}` with its HTTP
//! status. It listens on loopback unless given an admin token; with a token, every request
//! must carry `Authorization: Bearer <token>` (401 otherwise).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};
use tandem_proto::{HistoryPage, Member, Payload};
use tandem_server::{AdminMessage, Handle, Reach, ServerError};

/// Messages in a history page when the query gives no `limit` (the server caps it at its
/// page size, 100 by default).
const DEFAULT_PAGE: u32 = 100;

/// Refuses an admin API that anyone on the network could use: off loopback it needs a
/// token, and a token must not be empty.
pub fn check(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    match token {
        Some("") => Err("--admin-token is empty".into()),
        None if !addr.ip().is_loopback() => Err(format!(
            "--admin-addr {addr} is not a loopback address: give --admin-token too, or \
             anyone who reaches it can disconnect your users"
        )),
        _ => Ok(()),
    }
}

/// What every request handler shares.
#[derive(Clone)]
struct Admin {
    handle: Handle,
    token: Option<std::sync::Arc<str>>,
}

/// Serves the admin API on `listener` until the process ends. Request bodies (a message
/// to a user) are capped at `max_body` bytes, the server's largest message.
pub fn serve(
    listener: tokio::net::TcpListener,
    handle: Handle,
    token: Option<String>,
    max_body: usize,
) {
    let admin = Admin {
        handle,
        token: token.map(Into::into),
    };
    let app = Router::new()
        .route("/users/{user}/disconnect", post(disconnect))
        .route("/users/{user}/messages", post(send))
        .route("/rooms/{room}/members", get(members))
        .route("/rooms/{room}/members/{user}", delete(unsubscribe))
        .route("/rooms/{room}/history", get(history))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            let message = "this endpoint does not take that method";
            failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        // Outermost, so an unknown path or method answers 401 too: nothing is told to a
        // caller without the token.
        .layer(middleware::from_fn_with_state(admin.clone(), authorize))
        .with_state(admin);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the admin API stopped");
        }
    });
}

/// Lets a request through only with the token, when there is one.
async fn authorize(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let Some(token) = &admin.token else {
        return next.run(request).await;
    };
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().split_at_checked(7))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"Bearer "))
        .map(|(_, token)| token);
    match given {
        Some(given) if same(given, token.as_bytes()) => next.run(request).await,
        _ => {
            let message = "this endpoint needs Authorization: Bearer <the admin token>";
            let mut response = failure(StatusCode::UNAUTHORIZED, "unauthorized", message);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tandem admin\""),
            );
            response
        }
    }
}

/// Whether `a` equals `b`, in a time that depends on their lengths only (not on where
/// they differ), so the token cannot be guessed byte by byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// A failed request: its status and the `{"error": {"code", "message"}}` body.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        failure(self.status, self.code, &self.message)
    }
}

/// An extractor's refusal (a bad path segment, a body too big or unreadable) as a typed
/// error with the extractor's own status.
fn rejected(rejection: impl IntoResponse + std::fmt::Display) -> ApiError {
    let message = rejection.to_string();
    let status = rejection.into_response().status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    ApiError::new(status, code, message)
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        rejected(rejection)
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        rejected(rejection)
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        let message = e.to_string();
        match e {
            ServerError::Broker(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            ServerError::Stopped => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", message)
            }
            ServerError::Payload(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

type Answer = Result<Response, ApiError>;

/// `POST /users/{user}/disconnect`, with an optional body `{"reason": "..."}`.
async fn disconnect(
    State(admin): State<Admin>,
    user: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Path(user) = user?;
    let reach = match optional_text(&body?, "reason")? {
        Some(reason) => {
            let message = AdminMessage::Disconnect {
                user: user.clone(),
                reason,
            };
            admin.handle.admin(message).await?
        }
        None => admin.handle.disconnect_user(&user).await?,
    };
    Ok(applied(reach, json!({ "user": user })))
}

/// `DELETE /rooms/{room}/members/{user}`, with an optional body `{"message": "..."}`.
async fn unsubscribe(
    State(admin): State<Admin>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Path((room, user)) = path?;
    let reach = match optional_text(&body?, "message")? {
        Some(message) => {
            let message = AdminMessage::Unsubscribe {
                user: user.clone(),
                room: room.clone(),
                message,
            };
            admin.handle.admin(message).await?
        }
        None => admin.handle.unsubscribe(&user, &room).await?,
    };
    Ok(applied(reach, json!({ "room": room, "user": user })))
}

/// `POST /users/{user}/messages`: the body is the JSON value to send.
async fn send(
    State(admin): State<Admin>,
    user: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Path(user) = user?;
    let body = body?;
    let data = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| Payload::from_json(text.trim().to_owned()).ok())
        .ok_or_else(|| {
            let message = "the body must be one JSON value: the data to send";
            ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message)
        })?;
    let message = AdminMessage::Send {
        user: user.clone(),
        data,
    };
    let reach = admin.handle.admin(message).await?;
    Ok(applied(reach, json!({ "user": user })))
}

/// `GET /rooms/{room}/members`.
async fn members(State(admin): State<Admin>, room: Result<Path<String>, PathRejection>) -> Answer {
    let Path(room) = room?;
    let members = admin.handle.members(&room).await?;
    let members: Vec<Value> = members.iter().map(member).collect();
    Ok(answer(
        StatusCode::OK,
        json!({ "room": room, "members": members }),
    ))
}

/// `GET /rooms/{room}/history?before=SEQ&limit=N`.
async fn history(
    State(admin): State<Admin>,
    room: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Answer {
    let Path(room) = room?;
    let (before, limit) = page_query(query.as_deref().unwrap_or(""))
        .map_err(|message| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message))?;
    let page = admin.handle.history(&room, before, limit).await?;
    Ok(answer(StatusCode::OK, page_json(&room, &page)))
}

/// `before` and `limit` from a query string; other keys are ignored.
fn page_query(query: &str) -> Result<(Option<u64>, u32), String> {
    let mut before = None;
    let mut limit = DEFAULT_PAGE;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "before" if value.is_empty() => before = None,
            "before" => {
                let seq = value.parse().map_err(|_| {
                    format!("before={value:?}: give the seq of a message (a whole number)")
                })?;
                before = Some(seq);
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("limit={value:?}: give a whole number above 0"))?;
            }
            _ => {}
        }
    }
    Ok((before, limit))
}

/// A page as the API answers it: each message's seq, sender and data, oldest first, and
/// the `before` that asks for the page before it.
fn page_json(room: &str, page: &HistoryPage) -> Value {
    let messages: Vec<Value> = page
        .frames
        .iter()
        .filter_map(|frame| {
            // The server's own `event` frames: the envelope goes, the message stays.
            let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(frame) else {
                tracing::warn!("a stored message is not a JSON object; left out");
                return None;
            };
            for envelope in ["v", "k", "room"] {
                event.remove(envelope);
            }
            Some(Value::Object(event))
        })
        .collect();
    let oldest = messages.first().and_then(|m| m.get("seq")).cloned();
    let mut out = Map::new();
    out.insert("room".into(), room.into());
    out.insert("epoch".into(), page.epoch.into());
    out.insert("messages".into(), messages.into());
    out.insert("more".into(), page.more.into());
    if let (true, Some(seq)) = (page.more, oldest) {
        out.insert("before".into(), seq);
    }
    Value::Object(out)
}

fn member(m: &Member) -> Value {
    let mut out = Map::new();
    out.insert("user".into(), m.user.clone().into());
    for (name, value) in [("meta", &m.meta), ("info", &m.info)] {
        if let Some(value) = value {
            out.insert(name.into(), raw(value));
        }
    }
    Value::Object(out)
}

/// A payload as a JSON value (it is JSON already; `null` if it somehow is not).
fn raw(payload: &Payload) -> Value {
    serde_json::from_str(payload.get()).unwrap_or(Value::Null)
}

/// The text field `name` of an optional JSON object body.
fn optional_text(body: &[u8], name: &str) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let bad = || {
        let message =
            format!("the body, if any, must be a JSON object like {{\"{name}\": \"...\"}}");
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message)
    };
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad());
    };
    match object.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad()),
    }
}

/// The answer to an operation on live sessions: `fields` plus how far it reached.
fn applied(reach: Reach, mut fields: Value) -> Response {
    if let Value::Object(fields) = &mut fields {
        match reach {
            Reach::Connections(n) => {
                fields.insert("connections".into(), n.into());
            }
            Reach::Nodes(n) => {
                fields.insert("nodes".into(), n.into());
            }
            _ => {}
        }
    }
    answer(StatusCode::OK, fields)
}

fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    answer(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn answer(status: StatusCode, body: Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (status, content_type, body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn off_loopback_needs_a_token() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check(at("127.0.0.1:1"), None).is_ok());
        assert!(check(at("[::1]:1"), None).is_ok());
        assert!(check(at("0.0.0.0:1"), None).is_err());
        assert!(check(at("192.168.1.2:1"), None).is_err());
        assert!(check(at("0.0.0.0:1"), Some("t")).is_ok());
        assert!(check(at("127.0.0.1:1"), Some("")).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"secret"));
        assert!(same(b"", b""));
    }

    #[test]
    fn page_queries() {
        assert_eq!(page_query("").unwrap(), (None, DEFAULT_PAGE));
        assert_eq!(page_query("before=7&limit=2").unwrap(), (Some(7), 2));
        assert_eq!(page_query("before=&x=1").unwrap(), (None, DEFAULT_PAGE));
        assert!(page_query("limit=0").is_err());
        assert!(page_query("limit=-1").is_err());
        assert!(page_query("before=abc").is_err());
    }
}
