//! Static files served on the WebSocket port (`ServerBuilder::static_files`): a built web
//! app such as the demo in `www/dist`. GET and HEAD only; paths that leave the directory
//! or name hidden files are refused; `/` and directories serve their `index.html`.
//!
//! **Compression.** A compressible file (HTML, JavaScript, CSS, JSON, SVG, wasm, plain
//! text) of at least [`MIN_COMPRESS_BYTES`] is sent brotli- or gzip-encoded when the
//! request's `Accept-Encoding` allows it (q-values honoured, `br` preferred on a tie), with
//! `Vary: Accept-Encoding`. Each file is compressed once per encoding, off the async
//! workers, and kept in a process-wide cache keyed by path, length, modification time and
//! encoding, bounded by [`CACHE_BYTES`] in total (oldest out first); a changed file has a
//! new key. Files over [`MAX_COMPRESS_BYTES`] are sent as they are. Brotli uses quality 11
//! up to [`BROTLI_BEST_MAX_BYTES`] and 5 above (quality 11 runs at under 1 MB/s), gzip
//! level 9. Measured on the demo's `www/dist` (Vite 7 build, sizes in bytes as
//! `tandem serve` sent them; compression times of flate2 1.1 and brotli 8 in the release
//! profile on this 2-core machine, gzip + brotli):
//!
//! | file                      |     raw |   gzip 9 |    br 11 | compressing once  |
//! |---------------------------|--------:|---------:|---------:|-------------------|
//! | `assets/tandem_bg-*.wasm` | 164 821 |   69 210 |   58 601 | 20 ms + 235 ms    |
//! | `assets/index-*.js`       |  17 759 |    6 454 |    5 649 | 0.3 ms + 28 ms    |
//! | `assets/index-*.css`      |   1 728 |      765 |      615 | 0.1 ms + 3 ms     |
//! | `index.html`              |   1 426 |      681 |      481 | 0.04 ms + 2 ms    |
//!
//! A page load is 185.7 KB raw, 77.1 KB gzip, 65.3 KB brotli. The first brotli answer
//! for the wasm took 285 ms, later ones under 1 ms (only the file's metadata is read);
//! the cached copies hold 65 KB (brotli only) to 142 KB (both) of memory.
//!
//! **Caching.** A file in an `assets/` directory whose name carries a content hash (Vite's
//! `name-<hash>.ext`, 8 characters) never changes under its name: `Cache-Control: public,
//! max-age=31536000, immutable`. Everything else (`index.html`, unhashed files) is
//! `Cache-Control: no-cache`, revalidated by its `ETag` (length and modification time):
//! a matching `If-None-Match` is answered `304 Not Modified`.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::OnceCell;

use crate::http::RequestHead;

/// Largest file served (a built web app's biggest asset is the wasm module).
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Smaller files are sent as they are: their compressed form saves less than a packet.
const MIN_COMPRESS_BYTES: u64 = 1024;

/// Larger files are sent as they are: compressing them would hold a blocking thread and
/// the cache too long.
const MAX_COMPRESS_BYTES: u64 = 8 * 1024 * 1024;

/// Files up to this size get brotli's best quality (11); larger ones quality 5.
const BROTLI_BEST_MAX_BYTES: u64 = 1024 * 1024;

/// Compressed bytes the cache keeps, over every served directory.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Entries the cache keeps (compressed or found not worth compressing).
const CACHE_ENTRIES: usize = 512;

/// Characters of Vite's content hash in `name-<hash>.ext`.
const HASH_LEN: usize = 8;

/// The `Cache-Control` of a hashed asset: its content never changes under its name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The `Cache-Control` of everything else: kept, but revalidated before each use.
const REVALIDATE: &str = "no-cache";

/// Answers `GET`/`HEAD` of `path` (query already removed) from `root`, with the
/// `Accept-Encoding` and `If-None-Match` of `head`. Returns `false` when no file matches,
/// so the caller can answer 404 itself.
pub(crate) async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    root: &Path,
    path: &str,
    head: &RequestHead,
) -> io::Result<bool> {
    let Some(mut file) = resolve(root, path) else {
        return Ok(false);
    };
    if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_dir()) {
        file.push("index.html");
    }
    let Ok(meta) = tokio::fs::metadata(&file).await else {
        return Ok(false);
    };
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return Ok(false);
    }
    let modified = meta.modified().ok();
    let content_type = content_type(&file);
    let compressible = is_compressible(content_type) && meta.len() >= MIN_COMPRESS_BYTES;
    let relative = file.strip_prefix(root).unwrap_or(&file);
    let reply = Reply {
        content_type,
        cache_control: cache_control(relative),
        etag: etag(meta.len(), modified),
        vary: compressible,
    };
    let if_none_match = head.tokens("if-none-match");
    if reply
        .etag
        .as_deref()
        .is_some_and(|tag| matches_any(&if_none_match, tag))
    {
        reply.send(stream, 304, None, &[], None).await?;
        return Ok(true);
    }
    let head_only = head.method == "HEAD";
    let coding = if compressible && meta.len() <= MAX_COMPRESS_BYTES {
        negotiate(head.tokens("accept-encoding").iter().map(String::as_str))
    } else {
        Coding::Identity
    };
    if coding != Coding::Identity {
        let key = Key {
            file: file.clone(),
            len: meta.len(),
            modified,
            coding,
        };
        match compressed(key).await {
            Ok(Some(body)) => {
                let len = body.len() as u64;
                let body = if head_only { &[][..] } else { &body[..] };
                reply
                    .send(stream, 200, Some(coding), body, Some(len))
                    .await?;
                return Ok(true);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(file = %file.display(), error = %e, "compressing"),
        }
    }
    if head_only {
        reply.send(stream, 200, None, &[], Some(meta.len())).await?;
    } else {
        let body = tokio::fs::read(&file).await?;
        let len = body.len() as u64;
        reply.send(stream, 200, None, &body, Some(len)).await?;
    }
    Ok(true)
}

/// The headers every answer about one file carries.
struct Reply {
    content_type: &'static str,
    cache_control: &'static str,
    etag: Option<String>,
    /// Whether the answer depends on `Accept-Encoding`.
    vary: bool,
}

impl Reply {
    /// Writes the answer with `Connection: close`: `status`, the headers, `Content-Length:
    /// length` when given, then `body` (empty for HEAD and 304).
    async fn send<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        status: u16,
        coding: Option<Coding>,
        body: &[u8],
        length: Option<u64>,
    ) -> io::Result<()> {
        let mut head = match status {
            304 => String::from("HTTP/1.1 304 Not Modified\r\n"),
            _ => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nX-Content-Type-Options: nosniff\r\n",
                self.content_type
            ),
        };
        if let Some(length) = length {
            head.push_str(&format!("Content-Length: {length}\r\n"));
        }
        if let Some(coding) = coding {
            head.push_str(&format!("Content-Encoding: {}\r\n", coding.token()));
        }
        if self.vary {
            head.push_str("Vary: Accept-Encoding\r\n");
        }
        head.push_str(&format!("Cache-Control: {}\r\n", self.cache_control));
        if let Some(etag) = &self.etag {
            head.push_str(&format!("ETag: {etag}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await
    }
}

/// A content coding this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    /// Its `Content-Encoding` token.
    fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }
}

/// The coding to send, from the comma-separated elements of `Accept-Encoding`: the
/// acceptable (q > 0) one of `br` and `gzip` with the highest q, `br` on a tie; `*` stands
/// for a coding not named. Identity when neither is acceptable, or when `identity` is
/// named with a higher q. Elements with a malformed q are ignored.
fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> Coding {
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for offer in offers {
        let mut parts = offer.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let mut q = Some(1000);
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                if key.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(value.trim());
                }
            }
        }
        let Some(q) = q else { continue };
        let slot = if name.eq_ignore_ascii_case("br") {
            &mut br
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case("identity") {
            &mut identity
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
    let br = br.or(any).unwrap_or(0);
    let gzip = gzip.or(any).unwrap_or(0);
    let best = br.max(gzip);
    if best == 0 || identity.unwrap_or(0) > best {
        Coding::Identity
    } else if br >= gzip {
        Coding::Brotli
    } else {
        Coding::Gzip
    }
}

/// A q-value in thousandths (`0`, `0.5`, `1.000`), or `None` when malformed.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a response of `content_type` shrinks when compressed (images other than SVG,
/// fonts and archives are compressed already).
fn is_compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest+json")
        || content_type.starts_with("application/wasm")
        || content_type.starts_with("application/xml")
        || content_type.starts_with("image/svg+xml")
}

/// The `Cache-Control` of the file at `relative` (to the served directory).
fn cache_control(relative: &Path) -> &'static str {
    let mut dirs = relative.parent().into_iter().flat_map(Path::components);
    let in_assets = dirs.any(|c| c.as_os_str() == "assets");
    let hashed = relative
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(has_content_hash);
    if in_assets && hashed {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Whether `name` is `<name>-<hash>.<ext>` with Vite's hash: [`HASH_LEN`] base64url
/// characters of at least two kinds (upper case, lower case, digits), so that words such
/// as `-component.js` are not taken for one. The hash may itself contain `-`.
fn has_content_hash(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        let start = i + 1;
        let Some(hash) = bytes.get(start..start + HASH_LEN) else {
            return false;
        };
        let kinds = [
            hash.iter().any(u8::is_ascii_uppercase),
            hash.iter().any(u8::is_ascii_lowercase),
            hash.iter().any(u8::is_ascii_digit),
        ];
        b == b'-'
            && bytes.get(start + HASH_LEN) == Some(&b'.')
            && start + HASH_LEN + 1 < bytes.len()
            && hash
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
            && kinds.iter().filter(|&&k| k).count() >= 2
    })
}

/// A weak `ETag` from a file's length and modification time (weak: the gzip and brotli
/// forms share it), or `None` without a modification time.
fn etag(len: u64, modified: Option<SystemTime>) -> Option<String> {
    let since = modified?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some(format!(
        "W/\"{len:x}-{:x}.{:x}\"",
        since.as_secs(),
        since.subsec_nanos()
    ))
}

/// Whether `If-None-Match` (its comma-separated elements) matches `etag`: `*`, or the same
/// entity tag by weak comparison.
fn matches_any(if_none_match: &[String], etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = opaque(etag);
    if_none_match
        .iter()
        .any(|tag| tag.trim() == "*" || opaque(tag) == etag)
}

/// What identifies one compressed form of one version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    file: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    coding: Coding,
}

/// One cache entry: the compressed bytes once made (`None`: not smaller than the file).
type Slot = Arc<OnceCell<Option<Arc<[u8]>>>>;

/// The compressed files, oldest first out.
#[derive(Default)]
struct Cache {
    /// Each entry and the bytes it counts for (0 until made).
    slots: HashMap<Key, (Slot, usize)>,
    /// The keys of `slots`, oldest first.
    order: VecDeque<Key>,
    /// The bytes counted over `slots`.
    bytes: usize,
}

impl Cache {
    /// The entry of `key`, made (empty) when missing.
    fn slot(&mut self, key: &Key) -> Slot {
        if let Some((slot, _)) = self.slots.get(key) {
            return slot.clone();
        }
        let slot = Slot::default();
        self.slots.insert(key.clone(), (slot.clone(), 0));
        self.order.push_back(key.clone());
        self.evict();
        slot
    }

    /// Counts the bytes of `key`'s entry once it is made, then drops the oldest entries
    /// while over either bound.
    fn made(&mut self, key: &Key, slot: &Slot, bytes: usize) {
        if let Some((current, counted)) = self.slots.get_mut(key) {
            if Arc::ptr_eq(current, slot) && *counted == 0 {
                *counted = bytes;
                self.bytes += bytes;
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > CACHE_BYTES || self.slots.len() > CACHE_ENTRIES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, counted)) = self.slots.remove(&oldest) {
                self.bytes -= counted;
            }
        }
    }
}

/// Every served directory's compressed files.
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The file of `key` in `key.coding`, from the cache or compressed now (once, however many
/// ask at the same time); `None` when that is not smaller than the file.
/// Without a modification time a change of content could keep the key: such a file is
/// compressed for each answer instead.
async fn compressed(key: Key) -> io::Result<Option<Arc<[u8]>>> {
    if key.modified.is_none() {
        return compress_file(&key).await;
    }
    let slot = cache().slot(&key);
    let made = slot.get_or_try_init(|| compress_file(&key)).await?.clone();
    cache().made(&key, &slot, made.as_ref().map_or(0, |b| b.len()));
    Ok(made)
}

/// Reads the file of `key` and compresses it on a blocking thread.
async fn compress_file(key: &Key) -> io::Result<Option<Arc<[u8]>>> {
    let raw = tokio::fs::read(&key.file).await?;
    if raw.len() as u64 != key.len {
        return Err(io::Error::other("the file changed while read"));
    }
    let coding = key.coding;
    tokio::task::spawn_blocking(move || compress(&raw, coding))
        .await
        .map_err(io::Error::other)?
}

/// `raw` compressed with `coding`, or `None` when that is not smaller.
fn compress(raw: &[u8], coding: Coding) -> io::Result<Option<Arc<[u8]>>> {
    let out = match coding {
        Coding::Identity => return Ok(None),
        Coding::Gzip => {
            let out = Vec::with_capacity(raw.len() / 2);
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::best());
            encoder.write_all(raw)?;
            encoder.finish()?
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: if raw.len() as u64 <= BROTLI_BEST_MAX_BYTES {
                    11
                } else {
                    5
                },
                size_hint: raw.len(),
                ..Default::default()
            };
            let mut out = Vec::with_capacity(raw.len() / 2);
            brotli::BrotliCompress(&mut &raw[..], &mut out, &params)?;
            out
        }
    };
    Ok((out.len() < raw.len()).then(|| Arc::from(out)))
}

/// The file `path` names under `root`, or `None` when it would leave `root`, names a
/// hidden file, or is not plain ASCII without escapes.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rest = path.strip_prefix('/')?;
    if !rest
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'%'))
    {
        return None;
    }
    let mut file = root.to_path_buf();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') {
            return None;
        }
        file.push(segment);
    }
    Some(file)
}

/// The `Content-Type` of a file, from its extension.
fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stays_inside_the_root() {
        let root = Path::new("/srv/app");
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/app")));
        assert_eq!(
            resolve(root, "/assets/index.js"),
            Some(PathBuf::from("/srv/app/assets/index.js"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../b"), None);
        assert_eq!(resolve(root, "/.git/config"), None);
        assert_eq!(resolve(root, "/%2e%2e/x"), None);
        assert_eq!(resolve(root, "/a\\..\\b"), None);
        assert_eq!(resolve(root, "relative"), None);
    }

    #[test]
    fn knows_the_web_app_types() {
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }

    #[test]
    fn compresses_text_and_wasm_but_not_images() {
        for file in [
            "a.html", "a.js", "a.css", "a.json", "a.svg", "a.wasm", "a.txt",
        ] {
            assert!(is_compressible(content_type(Path::new(file))), "{file}");
        }
        for file in ["a.png", "a.jpg", "a.webp", "a.woff2", "a.ico", "a.bin"] {
            assert!(!is_compressible(content_type(Path::new(file))), "{file}");
        }
    }

    fn pick(accept_encoding: &str) -> Coding {
        negotiate(accept_encoding.split(','))
    }

    #[test]
    fn prefers_brotli_then_gzip() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Coding::Brotli);
        assert_eq!(pick("br, gzip"), Coding::Brotli);
        assert_eq!(pick("gzip"), Coding::Gzip);
        assert_eq!(pick("BR"), Coding::Brotli);
        assert_eq!(pick("x-gzip"), Coding::Gzip);
        assert_eq!(pick(""), Coding::Identity);
        assert_eq!(pick("deflate, zstd"), Coding::Identity);
        assert_eq!(pick("identity"), Coding::Identity);
    }

    #[test]
    fn honours_q_values() {
        assert_eq!(pick("gzip;q=1.0, br;q=0.5"), Coding::Gzip);
        assert_eq!(pick("gzip; q=0.8, br; Q=0.9"), Coding::Brotli);
        assert_eq!(pick("br;q=0.5, gzip;q=0.500"), Coding::Brotli, "a tie: br");
        assert_eq!(pick("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(pick("br;q=0.000, gzip;q=0"), Coding::Identity);
        assert_eq!(pick("br;q=0.001"), Coding::Brotli);
        assert_eq!(pick("identity;q=1, br;q=0.2"), Coding::Identity);
        assert_eq!(pick("br;q=0.2, identity;q=0.1"), Coding::Brotli);
        // Malformed q-values drop their element.
        assert_eq!(pick("br;q=2, gzip"), Coding::Gzip);
        assert_eq!(pick("br;q=0.5000, gzip;q=x"), Coding::Identity);
        assert_eq!(pick("br;q=1.5, gzip;q=-1"), Coding::Identity);
    }

    #[test]
    fn a_star_stands_for_the_codings_not_named() {
        assert_eq!(pick("*"), Coding::Brotli);
        assert_eq!(pick("br;q=0, *"), Coding::Gzip);
        assert_eq!(pick("gzip, *;q=0"), Coding::Gzip);
        assert_eq!(pick("*;q=0"), Coding::Identity);
        assert_eq!(pick("*;q=0.1, gzip"), Coding::Gzip);
    }

    #[test]
    fn reads_q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0."), Some(0));
        for bad in ["1.001", "2", "0.1234", "", "x", ".5", "-0"] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
    }

    #[test]
    fn long_caches_only_hashed_assets() {
        let cc = |p: &str| cache_control(Path::new(p));
        assert_eq!(cc("assets/index-lvYJhvBw.js"), IMMUTABLE);
        assert_eq!(cc("assets/tandem_bg-BjMEVwrJ.wasm"), IMMUTABLE);
        assert_eq!(cc("assets/index-BkFZu-SN.css"), IMMUTABLE, "- in the hash");
        assert_eq!(cc("assets/index-B_3xZ1a9.js.map"), IMMUTABLE);
        assert_eq!(cc("app/assets/logo-4f9a1c2b.svg"), IMMUTABLE);
        assert_eq!(cc("index.html"), REVALIDATE);
        assert_eq!(cc("index-lvYJhvBw.js"), REVALIDATE, "not under assets/");
        assert_eq!(cc("assets-lvYJhvBw/app.js"), REVALIDATE);
        assert_eq!(cc("assets/app.js"), REVALIDATE);
        assert_eq!(
            cc("assets/my-componen.js"),
            REVALIDATE,
            "a word, not a hash"
        );
        assert_eq!(cc("assets/index-lvYJhvBw"), REVALIDATE, "no extension");
        assert_eq!(cc("assets/index-lvYJhvBwx.js"), REVALIDATE, "9 characters");
        assert_eq!(cc("assets/index-lvYJ.vBw.js"), REVALIDATE);
        assert_eq!(cc("assets"), REVALIDATE);
    }

    #[test]
    fn etags_follow_length_and_time_and_match_weakly() {
        let at = |s| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let tag = etag(100, at(1_000)).unwrap();
        assert_eq!(tag, "W/\"64-3e8.0\"");
        assert_ne!(etag(101, at(1_000)), Some(tag.clone()));
        assert_ne!(etag(100, at(1_001)), Some(tag.clone()));
        assert_eq!(etag(100, None), None);
        let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert!(matches_any(&list(&tag), &tag));
        assert!(matches_any(&list("\"x\", \"64-3e8.0\""), &tag), "weakly");
        assert!(matches_any(&list("*"), &tag));
        assert!(!matches_any(&list("W/\"64-3e8.1\""), &tag));
        assert!(!matches_any(&[], &tag));
    }

    #[test]
    fn the_cache_is_bounded_and_counts_bytes_once() {
        let key = |n: usize| Key {
            file: PathBuf::from(format!("/f{n}")),
            len: 1,
            modified: None,
            coding: Coding::Gzip,
        };
        let mut cache = Cache::default();
        let first = cache.slot(&key(0));
        assert!(
            Arc::ptr_eq(&first, &cache.slot(&key(0))),
            "one slot per key"
        );
        cache.made(&key(0), &first, CACHE_BYTES / 2);
        cache.made(&key(0), &first, CACHE_BYTES / 2);
        assert_eq!(cache.bytes, CACHE_BYTES / 2, "counted once");
        let second = cache.slot(&key(1));
        cache.made(&key(1), &second, CACHE_BYTES / 2 + 1);
        assert!(!cache.slots.contains_key(&key(0)), "the oldest went");
        assert_eq!(cache.bytes, CACHE_BYTES / 2 + 1);
        for n in 2..CACHE_ENTRIES + 10 {
            cache.slot(&key(n));
        }
        assert_eq!(cache.slots.len(), CACHE_ENTRIES);
        assert_eq!(cache.order.len(), CACHE_ENTRIES);
        assert_eq!(cache.bytes, 0);
    }

    /// A directory with files in it, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str, files: &[(&str, &[u8])]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("tandem-files-{name}-{}", std::process::id()));
            for (path, content) in files {
                let file = dir.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, content).unwrap();
            }
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The answer to `request` (a request head), split into head and body.
    async fn get(root: &Path, request: &str) -> (String, Vec<u8>) {
        let (head, _) = crate::http::read_head(&mut request.as_bytes(), 8192)
            .await
            .unwrap();
        let path = head.path.clone();
        let mut out = Vec::new();
        assert!(serve(&mut out, root, &path, &head).await.unwrap(), "{path}");
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = out.split_off(split);
        (String::from_utf8(out).unwrap(), body)
    }

    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[tokio::test]
    async fn serves_compressed_cached_and_revalidated() {
        let js = "export const greeting = 'hello, tandem';\n".repeat(100);
        let dir = Dir::new(
            "serve",
            &[
                ("index.html", b"<h1>tiny</h1>"),
                ("assets/app-Ab12Cd34.js", js.as_bytes()),
            ],
        );
        let js_request = |accept: &str| {
            format!("GET /assets/app-Ab12Cd34.js HTTP/1.1\r\nAccept-Encoding: {accept}\r\n\r\n")
        };

        let (head, body) = get(&dir.0, &js_request("gzip, br")).await;
        assert_eq!(header(&head, "content-encoding"), Some("br"), "{head}");
        assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
        assert_eq!(header(&head, "cache-control"), Some(IMMUTABLE));
        assert_eq!(
            header(&head, "content-length"),
            Some(&*body.len().to_string())
        );
        assert!(body.len() < js.len() / 10, "{} bytes", body.len());
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &body[..], &mut decoded).unwrap();
        assert_eq!(decoded, js.as_bytes());

        let (head, body) = get(&dir.0, &js_request("gzip")).await;
        assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
        let mut decoded = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded).unwrap();
        assert_eq!(decoded, js.as_bytes());

        // Compressed once per key (path, length, time, coding).
        let key = |coding| Key {
            file: dir.0.join("assets/app-Ab12Cd34.js"),
            len: js.len() as u64,
            modified: std::fs::metadata(dir.0.join("assets/app-Ab12Cd34.js"))
                .unwrap()
                .modified()
                .ok(),
            coding,
        };
        let cached = compressed(key(Coding::Brotli)).await.unwrap().unwrap();
        let again = compressed(key(Coding::Brotli)).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&cached, &again), "not compressed twice");

        // A changed file is a new key: its new content is sent.
        let changed = js.replace("hello", "hi");
        std::fs::write(dir.0.join("assets/app-Ab12Cd34.js"), &changed).unwrap();
        let (_, body) = get(&dir.0, &js_request("br")).await;
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &body[..], &mut decoded).unwrap();
        assert_eq!(decoded, changed.as_bytes());
        std::fs::write(dir.0.join("assets/app-Ab12Cd34.js"), &js).unwrap();

        let head_request = "HEAD /assets/app-Ab12Cd34.js HTTP/1.1\r\nAccept-Encoding: br\r\n\r\n";
        let (head, body) = get(&dir.0, head_request).await;
        assert_eq!(header(&head, "content-encoding"), Some("br"));
        assert_eq!(
            header(&head, "content-length"),
            Some(&*cached.len().to_string())
        );
        assert!(body.is_empty());

        let (head, body) = get(&dir.0, "GET /assets/app-Ab12Cd34.js HTTP/1.1\r\n\r\n").await;
        assert_eq!(header(&head, "content-encoding"), None, "{head}");
        assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
        assert_eq!(body, js.as_bytes());

        let (head, body) = get(&dir.0, "GET / HTTP/1.1\r\nAccept-Encoding: br\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert_eq!(header(&head, "content-encoding"), None, "too small");
        assert_eq!(header(&head, "vary"), None);
        assert_eq!(header(&head, "cache-control"), Some(REVALIDATE));
        assert_eq!(body, b"<h1>tiny</h1>");
        let etag = header(&head, "etag").unwrap().to_owned();
        let revalidate = format!("GET / HTTP/1.1\r\nIf-None-Match: \"other\", {etag}\r\n\r\n");
        let (head, body) = get(&dir.0, &revalidate).await;
        assert!(head.starts_with("HTTP/1.1 304 Not Modified"), "{head}");
        assert_eq!(header(&head, "etag"), Some(&*etag));
        assert_eq!(header(&head, "content-length"), None);
        assert!(body.is_empty());
        let stale = "GET /index.html HTTP/1.1\r\nIf-None-Match: W/\"0-0.0\"\r\n\r\n";
        let (head, _) = get(&dir.0, stale).await;
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    }
}
