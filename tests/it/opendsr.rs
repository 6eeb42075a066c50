//! The opendsr connector against a processor fake.

use crate::fakes;
use crate::saas::Change;
use crate::saas::{connector, find, keys, open, write};
use crate::support::{Workspace, read_json, run, runtime};
use serde_json::json;

fn playbook(url: &str, wait: &str) -> (Workspace, std::path::PathBuf) {
    let ws = Workspace::new();
    ws.write("token", fakes::opendsr::TOKEN);
    let text =
        std::fs::read_to_string(crate::support::repo().join("playbooks/examples/opendsr.yaml"))
            .unwrap()
            .replace("https://privacy.adtech.example/opendsr", url)
            .replace("${env:ADTECH_OPENDSR_TOKEN}", "${file:token}")
            .replace(
                "{ poll_interval: 5s, wait: 2m }",
                &format!("{{ poll_interval: 10ms, wait: {wait} }}"),
            );
    let path = ws.write("pb.yaml", &text);
    (ws, path)
}

#[test]
fn opendsr_export_submits_an_access_request_and_follows_it_to_completion() {
    let (fake, url) = fakes::opendsr::start();
    let (ws, _) = playbook(&url, "10s");
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = read_json(&ws.path().join("bundle/adtech/requests.json"));
    let row = &rows[0];
    assert_eq!(row["request_status"], "completed");
    assert_eq!(row["results_count"], 3);
    let id = row["subject_request_id"].as_str().unwrap();
    assert_eq!(
        row["results_url"],
        format!("https://processor.example/results/{id}")
    );
    assert_eq!(
        row["subject_identities"],
        json!([{"identity_type": "email", "identity_value": "alice@example.com", "identity_format": "raw"}])
    );
    // Discovery, submission, then three status reads: pending, in_progress, completed.
    let calls = fake.requests();
    assert_eq!(calls[0], "GET /discovery");
    assert_eq!(calls[1], "POST /requests");
    assert_eq!(
        calls[2..],
        [
            format!("GET /requests/{id}"),
            format!("GET /requests/{id}"),
            format!("GET /requests/{id}")
        ]
    );
}

#[test]
fn opendsr_erasure_of_found_identities_completes_and_unfinished_ones_are_reported() {
    let (fake, url) = fakes::opendsr::start();
    let (_ws, path) = playbook(&url, "10s");
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "adtech").await;
        let rows = find(&v, c.as_ref(), "adtech", "requests", &[("email", vec![json!("alice@example.com")])])
            .await
            .unwrap();
        let keys = keys(&v, c.as_ref(), "adtech", "requests", &rows);
        let out = write(&v, c.as_ref(), "adtech", "requests", &keys, &Change::Delete).await.unwrap();
        assert_eq!(out.changed, 1);
        assert!(out.notes[0].starts_with("erasure request ") && out.notes[0].ends_with(" completed"), "{out:?}");
        assert_eq!(fake.count("erasure"), 1);

        // A processor that has not finished within the wait: not done, and said so.
        fake.bump("stuck");
        let (_ws2, path2) = playbook(&url, "100ms");
        let v2 = open(&path2);
        let c2 = connector(&v2, "adtech").await;
        let out = write(&v2, c2.as_ref(), "adtech", "requests", &keys, &Change::Delete)
            .await
            .unwrap();
        assert_eq!(out.changed, 0);
        assert!(
            out.notes[0].contains(" is pending; expected by 2026-12-01T00:00:00Z"),
            "{out:?}"
        );

        // No rectification in OpenDSR.
        let err = write(&v, c.as_ref(), "adtech", "requests", &keys, &Change::Set(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "masking and correction (OpenDSR has no rectification) is not supported by this connector");
    });
}

#[test]
fn opendsr_rejects_identity_types_the_processor_does_not_accept() {
    let (fake, url) = fakes::opendsr::start();
    let (_ws, path) = playbook(&url, "1s");
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "adtech").await;
        // The collection matches on `email`; a phone identity is not supported by the processor.
        let err = find(
            &v,
            c.as_ref(),
            "adtech",
            "requests",
            &[("phone", vec![json!("+441234")])],
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the processor does not accept identity type 'phone' (it accepts: email)"
        );
        assert_eq!(fake.requests(), ["GET /discovery"]);
    });
}
