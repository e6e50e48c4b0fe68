//! The server URLs a client connects to, like Ably's fallback hosts: the first URL at
//! first, and after each failure or close the next one in turn, so a client whose node
//! died resumes its session on another node of the cluster.

use crate::error::Error;

/// The URLs, and which one the next attempt uses.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    urls: Vec<String>,
    attempts: usize,
}

impl Endpoints {
    /// `first`, then `fallbacks` in order.
    pub fn new(first: String, fallbacks: &[String]) -> Self {
        let mut urls = Vec::with_capacity(1 + fallbacks.len());
        urls.push(first);
        urls.extend(fallbacks.iter().cloned());
        Endpoints { urls, attempts: 0 }
    }

    /// `first`, then `fallbacks`, each checked by the transport's `check` first.
    pub fn checked(
        first: &str,
        fallbacks: &[String],
        check: fn(&str) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        check(first)?;
        for fallback in fallbacks {
            check(fallback)?;
        }
        Ok(Endpoints::new(first.to_owned(), fallbacks))
    }

    /// The URL for the next connection attempt. Every attempt after the first follows a
    /// failure or a close, so each moves on to the next URL (wrapping around).
    pub fn next(&mut self) -> &str {
        let i = self.attempts % self.urls.len();
        self.attempts += 1;
        &self.urls[i]
    }

    /// Rewrites every URL (the browser resolves paths against the page).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn map(mut self, f: impl Fn(String) -> String) -> Self {
        self.urls = self.urls.into_iter().map(f).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_the_first_url_and_moves_on_after_each_attempt() {
        let mut e = Endpoints::new("ws://a".into(), &["ws://b".into(), "ws://c".into()]);
        let seen: Vec<String> = (0..5).map(|_| e.next().to_owned()).collect();
        assert_eq!(seen, ["ws://a", "ws://b", "ws://c", "ws://a", "ws://b"]);
        let mut one = Endpoints::new("ws://a".into(), &[]);
        assert_eq!(one.next(), "ws://a");
        assert_eq!(one.next(), "ws://a");
    }
}
