//! Static files served on the WebSocket port (`ServerBuilder::static_files`): a built web
//! app such as the demo in `www/dist`. GET and HEAD only; paths that leave the directory
//! or name hidden files are refused; `/` and directories serve their `index.html`.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWrite;

use crate::http;

/// Largest file served (a built web app's biggest asset is the wasm module).
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Answers `GET`/`HEAD` of `path` (query already removed) from `root`. Returns `false`
/// when no file matches, so the caller can answer 404 itself.
pub(crate) async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    root: &Path,
    path: &str,
    head_only: bool,
) -> std::io::Result<bool> {
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
    let body = tokio::fs::read(&file).await?;
    let body = if head_only { &[][..] } else { &body[..] };
    http::respond_bytes(stream, 200, content_type(&file), body, meta.len()).await?;
    Ok(true)
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
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
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
}
