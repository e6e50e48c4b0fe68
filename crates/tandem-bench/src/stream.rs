//! A publisher for the browser figure: publishes `count` small messages into a tandem
//! room as fast as the server takes them, then waits for every ack.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::conn::Endpoint;
use crate::target::Target;

/// Options of `tandem-bench stream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tandem server, `ws://127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// The room to publish into.
    #[arg(long)]
    room: String,
    /// Messages to publish.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
}

/// Publishes the stream.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = Endpoint::new(Target::Tandem, &args.url)?.with_room(&args.room);
    let ws = endpoint.open(0).await?;
    let (mut sink, mut stream) = ws.split();
    let room = serde_json::to_string(&args.room).map_err(|e| e.to_string())?;
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < args.count {
            match stream.next().await {
                Some(Ok(Message::Text(text))) if text.contains(r#""k":"ack""#) => acked += 1,
                Some(Ok(Message::Text(text))) if text.contains(r#""k":"error""#) => {
                    return Err(format!("the server refused a publish: {text}"));
                }
                Some(Ok(_)) => {}
                other => {
                    return Err(format!(
                        "the connection ended after {acked} acks: {other:?}"
                    ));
                }
            }
        }
        Ok(acked)
    });
    for id in 1..=args.count {
        // A short text, like a chat line or a small state update.
        let frame = format!(
            r#"{{"v":1,"k":"publish","id":{id},"room":{room},"data":"message number {id:08} of the stream, about sixty"}}"#
        );
        sink.feed(Message::text(frame))
            .await
            .map_err(|e| format!("send: {e}"))?;
        if id % 64 == 0 {
            sink.flush().await.map_err(|e| format!("send: {e}"))?;
        }
    }
    sink.flush().await.map_err(|e| format!("send: {e}"))?;
    let acked = acks.await.map_err(|e| format!("reader: {e}"))??;
    eprintln!("stream: {acked} messages published and acknowledged");
    let _ = sink.close().await;
    Ok(())
}
