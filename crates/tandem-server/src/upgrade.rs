//! What a connection's upgrade request said that the application's backend may want (the
//! connect hook over HTTP): kept from the connection task to the hook, and nothing more.

/// What a connection's upgrade request said that a backend may want: the headers named in
/// `Hooks::forward_headers` and the peer's address. Kept (boxed, from `Command::Connect`
/// to the connect hook) only when a connect hook wants it, so a server without one keeps
/// nothing per connection.
#[derive(Debug, Default)]
pub(crate) struct Upgrade {
    /// Lowercase name, value; the first value of each header.
    pub headers: Vec<(String, String)>,
    /// The peer (a host's axum app gives it only with `ConnectInfo`).
    pub remote: Option<std::net::SocketAddr>,
}

impl Upgrade {
    /// The headers of `names` that `header` finds, and `remote`.
    pub fn capture<'a>(
        names: &[String],
        header: impl Fn(&str) -> Option<&'a str>,
        remote: Option<std::net::SocketAddr>,
    ) -> Box<Upgrade> {
        let headers = names
            .iter()
            .filter_map(|n| header(n).map(|v| (n.clone(), v.to_owned())))
            .collect();
        Box::new(Upgrade { headers, remote })
    }
}
