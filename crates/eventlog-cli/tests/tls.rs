//! TLS on eventlog's outgoing HTTP, against servers whose certificate a private test CA
//! signed: the library's `HttpSink` (as `eventlog monitor --retry --url https://...` uses
//! it) and the alert webhooks of `eventlog serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use eventlog_client::{DeadLetter, DeadLetters, Event};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

mod common;
use common::{serve, BIN};

/// A CA written to `ca.pem` in `dir`, and a server certificate it signed for 127.0.0.1.
fn test_ca(dir: &Path) -> (PathBuf, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "eventlog test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca_cert, &ca_key)
        .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server_cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    )
    .unwrap();
    (ca_file, TlsAcceptor::from(Arc::new(config)))
}

/// Terminates TLS on a free port and forwards each connection to `upstream`: the real
/// server behind an HTTPS front, as in a deployment behind a proxy.
async fn tls_front(acceptor: TlsAcceptor, upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut server = TcpStream::connect(upstream).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                }
            });
        }
    });
    addr
}

/// An HTTPS receiver answering 200 to each request and passing on its headers and body.
async fn tls_receiver(
    acceptor: TlsAcceptor,
) -> (SocketAddr, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut tls = BufReader::new(tls);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if tls.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                tls.read_exact(&mut body).await.unwrap();
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                tls.get_mut().write_all(reply.as_bytes()).await.unwrap();
                tls.get_mut().shutdown().await.ok();
                let _ = tx.send((head, body));
            });
        }
    });
    (addr, rx)
}

fn monitor(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("monitor")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_retried_over_https_trusting_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, acceptor) = test_ca(dir.path());
    let (_server, url, key) = serve(dir.path(), &[]).await;
    let upstream: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let https = format!(
        "https://127.0.0.1:{}",
        tls_front(acceptor, upstream).await.port()
    );

    let spool = tempfile::tempdir().unwrap();
    let mut event = Event::from_code("SYS-001");
    event.event_id = Some("SYS-001-20261125-020000-tls1".into());
    DeadLetters::in_dir(spool.path())
        .append(&[DeadLetter {
            failed_at: chrono::Utc::now(),
            reason: "server unreachable at the time".into(),
            event,
        }])
        .unwrap();
    let spool_dir = spool.path().to_str().unwrap();
    let retry = |extra: &[&str]| {
        let mut args = vec![
            "--spool", spool_dir, "--retry", "--url", &https, "--key", &key,
        ];
        args.extend_from_slice(extra);
        monitor(&args)
    };

    // The public roots do not vouch for the test CA: refused, said why, nothing lost.
    let out = retry(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(DeadLetters::in_dir(spool.path()).list().unwrap().0.len(), 1);

    // Trusting it, the letter goes through the HTTPS front into the real server.
    let ca = ca_file.to_str().unwrap();
    let out = retry(&["--ca-file", ca, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["delivered"], json!(1), "{result}");
    let stored = reqwest::Client::new()
        .get(format!("{url}/api/events/SYS-001-20261125-020000-tls1"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);

    // A file that is no CA is named before anything is sent.
    let out = retry(&["--ca-file", dir.path().join("e.db").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("e.db") && err.contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_webhooks_are_delivered_over_https_without_logging_the_secret_path() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, acceptor) = test_ca(dir.path());
    let (receiver, mut deliveries) = tls_receiver(acceptor).await;
    let hook = format!(
        "https://127.0.0.1:{}/services/T0/B0/s3cr3tpath",
        receiver.port()
    );
    let config = dir.path().join("eventlog.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\nevaluate_every_secs = 1\n\n[[alerts.rules]]\nname = \"critical_event\"\n\
             kind = \"critical_events\"\nthreshold = 1\nwindow_secs = 300\nseverity = \"CRITICAL\"\n\n\
             [[alerts.webhooks]]\nurl = \"{hook}\"\nsecret = \"a-webhook-secret-of-some-length\"\n\
             ca_file = \"{}\"\n",
            ca_file.display()
        ),
    )
    .unwrap();
    let (mut server, url, key) = serve(dir.path(), &["--config", config.to_str().unwrap()]).await;
    let posted = reqwest::Client::new()
        .post(format!("{url}/api/events"))
        .bearer_auth(&key)
        .json(&json!({"event_code": "SYS-008", "severity": "CRITICAL"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);

    let (head, body) = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
        .await
        .expect("the webhook is called within 30 s")
        .unwrap();
    assert!(
        head.starts_with("POST /services/T0/B0/s3cr3tpath "),
        "{head}"
    );
    assert!(
        head.to_lowercase()
            .contains("x-eventlog-signature: sha256="),
        "{head}"
    );
    let alert: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (alert["rule"].as_str(), alert["state"].as_str()),
        (Some("critical_event"), Some("firing"))
    );

    // The server logs the delivery once it has read the receiver's answer.
    let read_log = || std::fs::read_to_string(dir.path().join("serve.err")).unwrap();
    for _ in 0..100 {
        if read_log().contains("alert notification delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().await.unwrap();
    let log = read_log();
    assert!(log.contains("alert notification delivered"), "{log}");
    assert!(
        log.contains(&format!("https://127.0.0.1:{}/…", receiver.port())),
        "{log}"
    );
    assert!(
        !log.contains("s3cr3tpath"),
        "the webhook's path is logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_names_a_webhook_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    for (webhook, says) in [
        ("url = \"ftp://hooks.example/x\"", "https:// or http://"),
        (
            "url = \"https://hooks.example/secret-path\"\nca_file = \"/nonexistent/ca.pem\"",
            "/nonexistent/ca.pem",
        ),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(
            &config,
            format!(
                "[[alerts.webhooks]]\n{webhook}\nsecret = \"a-webhook-secret-of-some-length\"\n"
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.to_str().unwrap(),
            ])
            .arg("--database")
            .arg(format!("sqlite://{}/e.db", dir.path().display()))
            .current_dir(dir.path())
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains("secret-path"), "{err}");
    }
}
