//! `tandem-bench axum-server`: tandem mounted in an axum app (`tandem-server`'s `axum`
//! feature), as a team that embeds it runs it, for the idle-memory figure 3b: the same
//! server settings as the bench's `tandem serve`, behind hyper's HTTP server and upgrade
//! instead of tandem's own listener.

use std::net::SocketAddr;

use axum::Router;
use core::time::Duration;
use tandem_server::Server;

/// Serves tandem at `/` of an axum app on `addr` until killed.
pub async fn serve(addr: SocketAddr) -> Result<(), String> {
    let tandem = Server::builder()
        // The load generator goes far above the default per-connection rate limit.
        .rate(10_000_000, 10_000_000)
        // Idle connections do not ping during the measurement.
        .configure(|c| c.heartbeat.interval = Duration::from_secs(600))
        .build()
        .mount();
    let app = Router::new().route("/", tandem.axum_route());
    let listener = crate::bare::listen(addr)?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
