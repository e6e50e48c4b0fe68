//! Which browser origins may open a WebSocket.

/// Which `Origin` headers the server accepts on a WebSocket upgrade. Requests without an
/// `Origin` header (native clients, which are not subject to the browser's same-origin
/// rules) are always accepted; a browser always sends one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Only pages served from the same host and port as the server (the origin's
    /// `host[:port]` equals the request's `Host` header). The default.
    #[default]
    SameHost,
    /// Exactly these origins (`scheme://host[:port]`, compared without case), plus the
    /// same host.
    List(Vec<String>),
    /// Any origin. Only for development.
    Any,
}

impl OriginPolicy {
    /// Whether an upgrade with this `Origin` header (if any) to this `Host` may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::SameHost => same_host(origin, host),
            OriginPolicy::List(list) => {
                same_host(origin, host)
                    || list
                        .iter()
                        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
            }
        }
    }

    /// A sentence for logs and `--help` saying what the policy admits.
    pub fn describe(&self) -> String {
        match self {
            OriginPolicy::SameHost => {
                "browser pages from the server's own host only (plus clients without Origin)"
                    .to_owned()
            }
            OriginPolicy::List(list) => format!(
                "browser pages from the server's own host and {} (plus clients without Origin)",
                list.join(", ")
            ),
            OriginPolicy::Any => "any origin (development only)".to_owned(),
        }
    }
}

fn same_host(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Some((_, rest)) = origin.split_once("://") else {
        return false;
    };
    rest.trim_end_matches('/').eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::OriginPolicy;

    #[test]
    fn same_host_compares_host_and_port() {
        let p = OriginPolicy::SameHost;
        assert!(p.allows(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(!p.allows(Some("http://127.0.0.1:9999"), Some("127.0.0.1:8080")));
        assert!(!p.allows(Some("https://evil.example"), Some("127.0.0.1:8080")));
        assert!(!p.allows(Some("null"), Some("127.0.0.1:8080")));
        assert!(p.allows(None, Some("127.0.0.1:8080")));
    }

    #[test]
    fn list_admits_listed_origins_only() {
        let p = OriginPolicy::List(vec!["http://localhost:5173/".into()]);
        assert!(p.allows(Some("http://LOCALHOST:5173"), Some("127.0.0.1:8080")));
        assert!(!p.allows(Some("http://localhost:5174"), Some("127.0.0.1:8080")));
        assert!(OriginPolicy::Any.allows(Some("http://x"), None));
    }
}
