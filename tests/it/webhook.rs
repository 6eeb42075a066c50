//! The webhook connector against a service that verifies the HMAC signature.

use crate::fakes;
use crate::saas::Change;
use crate::saas::{Rows, connector, example, find, keys, open, write};
use crate::support::{read_json, run, runtime};
use serde_json::json;

const SECRETS: &[(&str, &str)] = &[("LOYALTY_WEBHOOK_SECRET", fakes::webhook::SECRET)];

#[test]
fn webhook_export_returns_the_service_records() {
    let (fake, url) = fakes::webhook::start();
    let (ws, _) = example("webhook.yaml", &url, SECRETS);
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let cards = read_json(&ws.path().join("bundle/loyalty/cards.json"));
    assert_eq!(
        cards,
        json!([{"id": "t-1", "kind": "loyalty card", "points": 120}])
    );
    // The signature was checked and accepted.
    assert_eq!(fake.count("export"), 1);
    let body = fake.bodies.lock().unwrap()[0].clone();
    let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["action"], "export");
    assert_eq!(payload["match"]["email"], json!(["alice@example.com"]));
}

#[test]
fn webhook_erase_records_the_truncated_answer() {
    let (fake, url) = fakes::webhook::start();
    let (_ws, path) = example("webhook.yaml", &url, SECRETS);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "loyalty").await;
        let rows = find(
            &v,
            c.as_ref(),
            "loyalty",
            "cards",
            &[("email", vec![json!("alice@example.com")])],
        )
        .await
        .unwrap();
        let keys = keys(&v, c.as_ref(), "loyalty", "cards", &rows);
        assert_eq!(
            keys,
            vec![serde_json::Map::from_iter([(
                "id".to_string(),
                json!("t-1")
            )])]
        );
        let out = write(&v, c.as_ref(), "loyalty", "cards", &keys, &Change::Delete)
            .await
            .unwrap();
        assert_eq!(out.changed, 1);
        assert_eq!(out.notes.len(), 1);
        let note = &out.notes[0];
        assert!(
            note.starts_with("response: {\"status\":\"queued\",\"ticket\":\"ERA-42\""),
            "{note}"
        );
        assert_eq!(
            note.chars().count(),
            "response: ".len() + dsr::connectors::webhook::MAX_NOTE_CHARS + 1
        );
        assert_eq!(fake.count("erase"), 1);
        let body = fake.bodies.lock().unwrap().last().cloned().unwrap();
        let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(payload["keys"], json!([{"id": "t-1"}]));
    });
}

#[test]
fn webhook_with_the_wrong_secret_is_rejected_and_the_secret_never_shown() {
    let (_fake, url) = fakes::webhook::start();
    let (_ws, path) = example(
        "webhook.yaml",
        &url,
        &[("LOYALTY_WEBHOOK_SECRET", "not-the-secret")],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "loyalty").await;
        let mut rows = Rows::default();
        let spec = v
            .collection(&dsr::playbook::CollectionId {
                system: "loyalty".into(),
                collection: "cards".into(),
            })
            .unwrap();
        let matches = vec![dsr::connectors::MatchGroup::single(
            "email",
            vec![json!("alice@example.com")],
        )];
        let err = c
            .find(
                &dsr::connectors::FindRequest {
                    collection: spec,
                    columns: None,
                    matches: &matches,
                    idle_timeout: std::time::Duration::from_secs(5),
                },
                &mut rows,
            )
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "loyalty rejected the credentials (HTTP 401); check the system's `auth:` values"
        );
    });
}

/// A TLS server (OpenSSL's `s_server`) whose certificate no trust store holds.
struct UntrustedTls {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl UntrustedTls {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let mut c = std::process::Command::new("openssl");
            c.args(args)
                .current_dir(dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c
        };
        let made = openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .status()
        .expect("the openssl command is installed");
        assert!(made.success(), "openssl made a certificate");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = openssl(&[
            "s_server",
            "-accept",
            &port.to_string(),
            "-cert",
            "cert.pem",
            "-key",
            "key.pem",
            "-www",
        ])
        .spawn()
        .unwrap();
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "s_server listens on {port}");
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_untrusted_certificate_fails_at_once_and_says_so() {
    let tls = UntrustedTls::start();
    let url = format!("https://127.0.0.1:{}/dsr", tls.port);
    let (ws, _) = example("webhook.yaml", &url, SECRETS);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = read_json(&ws.path().join("bundle/report.json"));
    let cards = &report["systems"][0]["collections"][0];
    let error = cards["errors"][0].as_str().unwrap_or_default();
    assert!(
        error.contains("TLS failed: invalid peer certificate"),
        "the reason is the certificate: {cards}"
    );
    assert_eq!(cards["attempts"], 1, "a refused certificate is not retried");
    assert!(
        !error.contains("127.0.0.1"),
        "errors name no address: {error}"
    );
}
