//! TLS end to end: `tandem serve --tls-cert/--tls-key` with a certificate for `localhost`
//! and 127.0.0.1 signed by a CA made at test time (rcgen). Native clients that trust the CA
//! (`Config::extra_root_pem`) join, publish and receive over `wss://`; a client that does
//! not trust it, or reaches the server by a name the certificate lacks, stops at once with
//! the verifier's reason (`CloseReason::Tls`) instead of retrying; `/healthz` and static
//! files answer over `https://`; plain HTTP and a silent TCP peer get nothing and cost the
//! server nothing. A bad certificate or key stops `tandem serve` at startup with a message.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use support::{Chat, SECRET, messages, token, within};
use tandem_client::{Client, CloseReason, Config, Error};
use tandem_server::rustls;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A test CA and a server certificate it signed, as PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "tandem test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = leaf.signed_by(&key, &issuer).unwrap();

        let pki = Pki {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
            ca_pem,
        };
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    /// Writes `text` to a file of the test's directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tandem serve` over TLS (or, for a comparison, without).
struct TlsServer {
    child: Child,
    addr: SocketAddr,
}

impl TlsServer {
    async fn start(pki: &Pki, addr: &str, extra: &[&str]) -> TlsServer {
        let tls = [
            "--tls-cert".as_ref(),
            pki.cert.as_os_str(),
            "--tls-key".as_ref(),
            pki.key.as_os_str(),
        ];
        Self::spawn(addr, &tls, extra, "https").await
    }

    async fn spawn(
        addr: &str,
        tls: &[&std::ffi::OsStr],
        extra: &[&str],
        scheme: &str,
    ) -> TlsServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--addr", addr, "--token-secret", SECRET])
            .args(tls)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = within("tandem serve to print its address", lines.next_line())
            .await
            .unwrap()
            .expect("tandem serve printed its address");
        let addr = line
            .strip_prefix(&format!("tandem listening on {scheme}://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TlsServer { child, addr }
    }
}

/// A client configuration trusting the test CA.
fn trusting(pki: &Pki, user: &str) -> Config {
    Config::new()
        .extra_root_pem(&pki.ca_pem)
        .unwrap()
        .token(token(user))
        .seed(7)
}

/// Everything a stream gives until it ends (an end without TLS close_notify included).
async fn read_all(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` over https, trusting the test CA, with the name `localhost`.
async fn https_get(addr: SocketAddr, ca_pem: &str, path: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    within("an HTTPS answer", async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.unwrap();
        read_all(&mut tls).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_clients_trusting_the_ca_publish_and_receive_over_wss() {
    let pki = Pki::new("wss");
    let server = TlsServer::start(&pki, "127.0.0.1:0", &[]).await;
    let port = server.addr.port();

    // By name and by address: the certificate has both.
    let by_name = format!("wss://localhost:{port}");
    let by_address = format!("wss://127.0.0.1:{port}");
    let ada: Client<Chat> = within(
        "ada to connect",
        Client::connect(&by_name, trusting(&pki, "ada")),
    )
    .await
    .unwrap();
    let bo: Client<Chat> = within(
        "bo to connect",
        Client::connect(&by_address, trusting(&pki, "bo")),
    )
    .await
    .unwrap();
    let mut ada_events = ada.events();
    let mut bo_events = bo.events();
    within("ada to join", ada.join("tls")).await.unwrap();
    within("bo to join", bo.join("tls")).await.unwrap();

    let seq = within("the publish", ada.publish("tls", &Chat::new(1)))
        .await
        .unwrap();
    let got = messages(&mut bo_events, "tls", 1).await;
    assert_eq!(got, vec![(seq, Chat::new(1))]);
    within("the reply", bo.publish("tls", &Chat::new(2)))
        .await
        .unwrap();
    // Ada sees her own message, then bo's, in order.
    let got = messages(&mut ada_events, "tls", 2).await;
    assert_eq!(
        got.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
        vec![Chat::new(1), Chat::new(2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_stops_with_the_reason() {
    let pki = Pki::new("untrusted");
    let server = TlsServer::start(&pki, "127.0.0.1:0", &[]).await;
    let url = format!("wss://localhost:{}", server.addr.port());

    // Only the system's roots: the test CA is not among them. The client closes for good
    // (no reconnect loop), and says why.
    let config = Config::new().token(token("eve"));
    let err = within("the refusal", Client::<Chat>::connect(&url, config))
        .await
        .unwrap_err();
    let Error::Closed(CloseReason::Tls(why)) = &err else {
        panic!("expected a TLS refusal, got {err:?}");
    };
    assert!(why.contains("UnknownIssuer"), "{why}");
    assert!(why.contains("extra_root_pem"), "{why}");
    assert!(
        err.to_string()
            .starts_with("client closed: TLS handshake failed"),
        "{err}"
    );

    // Trusting the CA, but reaching the server by an address the certificate lacks.
    let elsewhere = TlsServer::start(&pki, "127.0.0.2:0", &[]).await;
    let url = format!("wss://{}", elsewhere.addr);
    let err = within(
        "the refusal",
        Client::<Chat>::connect(&url, trusting(&pki, "eve")),
    )
    .await
    .unwrap_err();
    let Error::Closed(CloseReason::Tls(why)) = &err else {
        panic!("expected a TLS refusal, got {err:?}");
    };
    assert!(why.contains("not valid for name \"127.0.0.2\""), "{why}");

    // The refusals cost the server nothing.
    let health = https_get(server.addr, &pki.ca_pem, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_static_files_answer_over_https_and_plain_http_gets_nothing() {
    let pki = Pki::new("https");
    let site = pki.dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<p>hello over TLS</p>\n").unwrap();
    let site_arg = site.to_str().unwrap();
    let server = TlsServer::start(
        &pki,
        "127.0.0.1:0",
        &["--static-dir", site_arg, "--http-head-timeout", "1s"],
    )
    .await;

    let health = https_get(server.addr, &pki.ca_pem, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#""status":"ok""#), "{health}");
    let page = https_get(server.addr, &pki.ca_pem, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("<p>hello over TLS</p>\n"), "{page}");

    // Plain HTTP on the TLS port: the handshake fails, nothing is served.
    let plain = within("the plain request to end", async {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        read_all(&mut tcp).await
    })
    .await;
    assert!(!plain.contains("HTTP/1.1"), "{plain:?}");

    // A peer that opens TCP and says nothing is dropped after --http-head-timeout: the
    // handshake is bounded (an unbounded one would hang here past the wait).
    let silent = within("the silent peer to be dropped", async {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        read_all(&mut tcp).await
    })
    .await;
    assert!(silent.is_empty(), "{silent:?}");

    let health = https_get(server.addr, &pki.ca_pem, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

/// Runs `tandem serve` with these TLS flags, expecting it to exit; its code and stderr.
async fn startup(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = within("tandem serve to exit", child.wait_with_output())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_or_key_stops_the_server_at_startup_with_the_reason() {
    let pki = Pki::new("startup");
    let other = Pki::new("startup-other");
    let missing = pki.dir.join("missing-key.pem");
    let garbage = pki.file("garbage.pem", "this is not a certificate\n");
    let junk = pki.file(
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    );
    let cases: [(&Path, &Path, &[&str]); 6] = [
        (&pki.cert, &missing, &["cannot read", "missing-key.pem"]),
        (&garbage, &pki.key, &["garbage.pem", "no certificate found"]),
        (&junk, &pki.key, &["junk.pem", "not a valid certificate"]),
        (&pki.key, &pki.key, &["key.pem", "no certificate found"]),
        (&pki.cert, &pki.cert, &["cert.pem", "no private key found"]),
        (
            &pki.cert,
            &other.key,
            &["does not belong to the certificate", "startup-other"],
        ),
    ];
    for (cert, key, says) in cases {
        let flags = [
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ];
        let (code, stdout, stderr) = startup(&flags).await;
        let case = format!("{} / {}", cert.display(), key.display());
        assert_eq!(code, Some(1), "{case}: {stderr}");
        assert!(stdout.is_empty(), "{case}: it listened: {stdout}");
        assert!(stderr.starts_with("tandem: TLS: "), "{case}: {stderr}");
        for piece in says {
            assert!(stderr.contains(piece), "{case}: {piece:?} not in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    }

    // One flag without the other is a usage error.
    let (code, _, stderr) = startup(&["--tls-cert".as_ref(), pki.cert.as_os_str()]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// What a TLS connection costs the server, next to a plain one: resident memory per idle
/// joined connection and CPU time per connection set up (TCP, the TLS handshake in full:
/// no resumption, the upgrade, hello and join). A measurement, not a check: run it with
/// `cargo test --release -p tandem-cli --test tls -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn measure_what_tls_costs_the_server() {
    const CONNECTIONS: usize = 2_000;
    let pki = Pki::new("cost");
    let plain = TlsServer::spawn("127.0.0.1:0", &[], &[], "http").await;
    let tls = TlsServer::start(&pki, "127.0.0.1:0", &[]).await;
    let connector = {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    for (name, addr, pid, over_tls) in [
        ("ws://", plain.addr, plain.child.id().unwrap(), false),
        ("wss://", tls.addr, tls.child.id().unwrap(), true),
    ] {
        let mut held = Vec::with_capacity(CONNECTIONS);
        // One first, so one-time allocations are not counted.
        held.push(idle_connection(addr, over_tls.then_some(&connector), 0).await);
        let (rss_before, cpu_before) = (settled_rss(pid).await, cpu_ms(pid));
        let started = std::time::Instant::now();
        for n in 1..=CONNECTIONS {
            held.push(idle_connection(addr, over_tls.then_some(&connector), n).await);
        }
        let elapsed = started.elapsed();
        let (rss_after, cpu_after) = (settled_rss(pid).await, cpu_ms(pid));
        println!(
            "{name}: {:.0} bytes of server RSS per idle connection; {:.3} ms of server CPU and \
             {:.3} ms of wall time per connection set up (one at a time)",
            (rss_after - rss_before) as f64 * 1024.0 / CONNECTIONS as f64,
            (cpu_after - cpu_before) as f64 / CONNECTIONS as f64,
            elapsed.as_secs_f64() * 1000.0 / CONNECTIONS as f64,
        );
        drop(held);
    }
}

/// A joined connection that then says nothing (the reader drains pings in the background).
async fn idle_connection(
    addr: SocketAddr,
    tls: Option<&tokio_rustls::TlsConnector>,
    n: usize,
) -> tokio::task::JoinHandle<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            Box::new(connector.connect(name, tcp).await.unwrap())
        }
    };
    let mut request = format!("ws://localhost:{}/", addr.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "tandem.v1.json".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let hello = format!(
        r#"{{"v":1,"k":"hello","app":{{"name":"default","versions":[1]}},"token":"{}"}}"#,
        token(&format!("u{n}"))
    );
    let join = format!(r#"{{"v":1,"k":"join","id":1,"room":"idle-{}"}}"#, n % 100);
    for (frame, answer) in [(hello, r#""k":"welcome""#), (join, r#""k":"joined""#)] {
        ws.send(Message::text(frame)).await.unwrap();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains(answer) => break,
                Some(Ok(_)) => {}
                other => panic!("no {answer}: {other:?}"),
            }
        }
    }
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
}

/// What a test connection runs over.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

/// `pid`'s resident set in KiB once two readings 200 ms apart agree within 1% (a
/// measurement's settling, not a synchronisation).
async fn settled_rss(pid: u32) -> i64 {
    let read = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .unwrap()
    };
    let mut last = read();
    for _ in 0..25 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = read();
        if (now - last).abs() * 100 <= last {
            return now;
        }
        last = now;
    }
    last
}

/// `pid`'s user + system CPU time in ms.
fn cpu_ms(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's closing parenthesis: fields 3.. ; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: i64 = fields[11].parse::<i64>().unwrap() + fields[12].parse::<i64>().unwrap();
    ticks * 10 // USER_HZ is 100 on Linux
}
