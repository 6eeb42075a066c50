//! The Redis connector against the real Redis named by `DSR_TEST_REDIS_URL`: every value type
//! exported faithfully with its TTL, erase by UNLINK and by hash-field masks with
//! verification, other people's keys untouched, the key cap, AUTH from the url, and playbook
//! errors with their lines. Each test keeps to a key prefix of its own.

use crate::support::{
    HEADER, Workspace, assert_manifest_matches, read_json, redis_clear, redis_conn, run,
};
use serde_json::{Value, json};

fn cmd(args: &[&str]) -> redis::Value {
    let mut c = redis_conn();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn text(args: &[&str]) -> String {
    let mut c = redis_conn();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<Option<String>>(&mut c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .unwrap_or_default()
}

fn int(args: &[&str]) -> i64 {
    let mut c = redis_conn();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Every key under `prefix` with its DUMP (type, value and encoding) and whether it expires.
fn snapshot(prefix: &str) -> Vec<(String, Vec<u8>, bool)> {
    let mut c = redis_conn();
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .query(&mut c)
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&k).query(&mut c).unwrap();
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(&mut c).unwrap();
            (k, dump, ttl > 0)
        })
        .collect()
}

/// A system over the test Redis whose collections are `collections` (indented 6 spaces).
fn playbook(ws: &Workspace, extra: &str, collections: &str) {
    let pb = format!(
        "{HEADER}  cache:\n    connector: redis\n    url: ${{env:DSR_TEST_REDIS_URL}}\n{extra}    purpose: Sessions and profiles\n    legal_basis: contract\n    retention: 30 days\n    collections:\n{collections}"
    );
    ws.write("pb.yaml", &pb);
}

/// Alice's and Bob's keys under `p`, of every type.
fn seed(p: &str) {
    for (who, uid) in [("alice@example.com", "42"), ("bob@example.com", "43")] {
        cmd(&["SET", &format!("{p}session:{who}:a"), "tok-1", "EX", "3600"]);
        cmd(&["SET", &format!("{p}session:{who}:b"), "tok-2"]);
        cmd(&[
            "HSET",
            &format!("{p}profile:{who}"),
            "name",
            "Somebody",
            "email",
            who,
            "user_id",
            uid,
        ]);
        cmd(&["RPUSH", &format!("{p}history:{uid}"), "/a", "/b", "/a"]);
        cmd(&["SADD", &format!("{p}tags:{uid}"), "vip", "early"]);
        cmd(&[
            "ZADD",
            &format!("{p}scores:{uid}"),
            "2",
            "beta",
            "1.25",
            "alpha",
        ]);
        cmd(&["XADD", &format!("{p}events:{uid}"), "1-1", "kind", "login"]);
    }
    // Near misses that must never match Alice's templates.
    cmd(&["SET", &format!("{p}session:alice@example.com.evil:a"), "x"]);
    cmd(&["SET", &format!("{p}profile:alice@example.com2"), "x"]);
    cmd(&["SET", &format!("{p}history:420"), "x"]);
}

fn collections(p: &str) -> String {
    format!(
        "      sessions:\n        keys: [\"{p}session:{{email}}:*\"]\n        match: {{ email: identity.email }}\n        erase: delete\n\
         \x20     profile:\n        keys: [\"{p}profile:{{email}}\"]\n        match: {{ email: identity.email }}\n        provides: {{ uid: user_id }}\n        erase:\n          mask: {{ email: 'null', name: redact }}\n          because: The account number is kept for fraud checks.\n\
         \x20     activity:\n        keys: [\"{p}history:{{uid}}\", \"{p}tags:{{uid}}\", \"{p}scores:{{uid}}\", \"{p}events:{{uid}}\"]\n        match: {{ uid: profile.uid }}\n        erase: delete\n"
    )
}

fn by_key(records: &Value) -> std::collections::BTreeMap<String, Value> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn redis_export_is_faithful_for_every_type_with_ttls() {
    let p = "dsr-it:export:";
    redis_clear(p);
    seed(p);
    let ws = Workspace::new();
    playbook(&ws, "", &collections(p));
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let b = ws.path().join("b");
    assert_manifest_matches(&b);

    let sessions = by_key(&read_json(&b.join("cache/sessions.json")));
    assert_eq!(
        sessions.keys().collect::<Vec<_>>(),
        [
            &format!("{p}session:alice@example.com:a"),
            &format!("{p}session:alice@example.com:b")
        ],
        "only Alice's sessions, no near misses"
    );
    let a = &sessions[&format!("{p}session:alice@example.com:a")];
    assert_eq!(
        (&a["type"], &a["value"]),
        (&json!("string"), &json!("tok-1"))
    );
    let ttl = a["ttl_ms"].as_i64().unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "{ttl}");
    assert_eq!(
        sessions[&format!("{p}session:alice@example.com:b")]["ttl_ms"],
        Value::Null
    );

    let profile = read_json(&b.join("cache/profile.json"));
    assert_eq!(profile.as_array().unwrap().len(), 1);
    assert_eq!(profile[0]["type"], "hash");
    assert_eq!(
        profile[0]["value"],
        json!({"name": "Somebody", "email": "alice@example.com", "user_id": "42"})
    );

    // The hop: the profile's user_id field reached Alice's other keys, and only hers.
    let activity = by_key(&read_json(&b.join("cache/activity.json")));
    assert_eq!(activity.len(), 4, "{activity:?}");
    assert_eq!(
        activity[&format!("{p}history:42")]["value"],
        json!(["/a", "/b", "/a"])
    );
    assert_eq!(
        activity[&format!("{p}tags:42")]["value"],
        json!(["early", "vip"])
    );
    assert_eq!(
        activity[&format!("{p}scores:42")]["value"],
        json!([{"member": "alpha", "score": 1.25}, {"member": "beta", "score": 2}])
    );
    assert_eq!(
        activity[&format!("{p}events:42")]["value"],
        json!([{"id": "1-1", "fields": {"kind": "login"}}])
    );
    assert_eq!(activity[&format!("{p}events:42")]["type"], "stream");
    redis_clear(p);
}

#[test]
fn redis_erase_unlinks_masks_verifies_and_leaves_others_alone() {
    let p = "dsr-it:erase:";
    redis_clear(p);
    seed(p);
    let bob_before: Vec<_> = snapshot(p)
        .into_iter()
        .filter(|(k, _, _)| !k.contains("alice") && !k.contains(":42"))
        .collect();
    let ws = Workspace::new();
    playbook(&ws, "", &collections(p));

    let dry = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--dry-run",
    ]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let dry: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(
        dry["changes"], 7,
        "2 sessions + 1 profile mask + 4 activity keys"
    );
    assert_eq!(
        int(&["EXISTS", &format!("{p}session:alice@example.com:a")]),
        1
    );

    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
        "--out",
        "rep",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let cache = &out["systems"][0];
    assert_eq!(cache["status"], "done");
    assert_eq!(cache["transactional"], true);
    let coll = |name: &str| {
        cache["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["collection"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(coll("sessions")["deleted"], 2);
    assert_eq!(coll("activity")["deleted"], 4);
    assert_eq!(coll("profile")["masked"], 1);
    for c in ["sessions", "activity", "profile"] {
        assert_eq!(coll(c)["verified"], true, "{c}");
    }

    for k in [
        "session:alice@example.com:a",
        "session:alice@example.com:b",
        "history:42",
        "tags:42",
        "scores:42",
        "events:42",
    ] {
        assert_eq!(int(&["EXISTS", &format!("{p}{k}")]), 0, "{k} still exists");
    }
    // The mask: `null` deleted the field, `redact` replaced it, other fields are untouched.
    let profile = format!("{p}profile:alice@example.com");
    assert_eq!(int(&["HEXISTS", &profile, "email"]), 0);
    assert_eq!(text(&["HGET", &profile, "name"]), "[redacted]");
    assert_eq!(text(&["HGET", &profile, "user_id"]), "42");
    // Near misses and Bob: byte for byte as before.
    for k in [
        "session:alice@example.com.evil:a",
        "profile:alice@example.com2",
        "history:420",
    ] {
        assert_eq!(text(&["GET", &format!("{p}{k}")]), "x", "{k}");
    }
    let bob_after: Vec<_> = snapshot(p)
        .into_iter()
        .filter(|(k, _, _)| !k.contains("alice") && !k.contains(":42"))
        .collect();
    assert_eq!(bob_after, bob_before, "other people's keys changed");
    let report = std::fs::read_to_string(ws.path().join("rep/report.json")).unwrap();
    assert!(
        !report.contains("alice@example.com"),
        "keys hold identities; the report must not"
    );

    // Nothing of hers is left to find: a second erase changes nothing.
    let again = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--dry-run",
    ]));
    let again: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(
        again["changes"], 1,
        "only the masked profile remains, masked again"
    );
    redis_clear(p);
}

#[test]
fn redis_values_with_glob_characters_match_only_themselves() {
    let p = "dsr-it:glob:";
    redis_clear(p);
    cmd(&["SET", &format!("{p}s:a*:1"), "mine"]);
    cmd(&["SET", &format!("{p}s:ab:1"), "not mine"]);
    cmd(&["SET", &format!("{p}s:a?:1"), "not mine"]);
    let ws = Workspace::new();
    let pb = format!(
        "version: 1\norganisation: T\nidentities: [user_id]\nsystems:\n  cache:\n    connector: redis\n    url: ${{env:DSR_TEST_REDIS_URL}}\n    purpose: P\n    legal_basis: contract\n    retention: 1 day\n    collections:\n      s:\n        keys: [\"{p}s:{{id}}:*\"]\n        match: {{ id: identity.user_id }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "user_id=a*",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(int(&["EXISTS", &format!("{p}s:a*:1")]), 0);
    assert_eq!(int(&["EXISTS", &format!("{p}s:ab:1")]), 1);
    assert_eq!(int(&["EXISTS", &format!("{p}s:a?:1")]), 1);
    redis_clear(p);
}

#[test]
fn redis_more_keys_than_the_cap_fail_the_step_instead_of_cutting_silently() {
    let p = "dsr-it:cap:";
    redis_clear(p);
    for i in 0..25 {
        cmd(&["SET", &format!("{p}session:alice@example.com:{i}"), "t"]);
    }
    let ws = Workspace::new();
    playbook(
        &ws,
        "    max_keys: 10\n    retries: 0\n",
        &format!(
            "      sessions:\n        keys: [\"{p}session:{{email}}:*\"]\n        match: {{ email: identity.email }}\n        erase: delete\n"
        ),
    );
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("more than 10 keys match cache.sessions"),
        "{}",
        r.stdout
    );
    assert_eq!(snapshot(p).len(), 25, "nothing was deleted");
    redis_clear(p);
}

#[test]
fn redis_user_and_password_come_from_the_url_and_are_never_printed() {
    let p = "dsr-it:acl:";
    redis_clear(p);
    cmd(&["ACL", "DELUSER", "dsr_it_reader"]);
    cmd(&[
        "ACL",
        "SETUSER",
        "dsr_it_reader",
        "on",
        ">s3cret-pw",
        &format!("~{p}*"),
        "+@read",
        "+@keyspace",
        "+@scripting",
        "+@transaction",
        "+@connection",
    ]);
    cmd(&["SET", &format!("{p}session:alice@example.com:1"), "t"]);
    let base = crate::support::redis_url();
    let hostpart = base.trim_start_matches("redis://");
    let ws = Workspace::new();
    let pb = |user: &str| {
        format!(
            "{HEADER}  cache:\n    connector: redis\n    url: redis://{user}:${{env:DSR_IT_REDIS_PW}}@{hostpart}\n    retries: 0\n    purpose: P\n    legal_basis: contract\n    retention: 1 day\n    collections:\n      sessions:\n        keys: [\"{p}session:{{email}}:*\"]\n        match: {{ email: identity.email }}\n        erase: delete\n"
        )
    };
    ws.write("pb.yaml", &pb("dsr_it_reader"));
    let r = run(ws
        .dsr()
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "ok",
        ])
        .env("DSR_IT_REDIS_PW", "s3cret-pw"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        read_json(&ws.path().join("ok/cache/sessions.json"))[0]["value"],
        "t"
    );

    let r = run(ws
        .dsr()
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "bad",
        ])
        .env("DSR_IT_REDIS_PW", "wrong-pw"));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("authentication failed"), "{}", r.stdout);
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains("wrong-pw"), "the password was printed: {out}");
    }
    cmd(&["ACL", "DELUSER", "dsr_it_reader"]);
    redis_clear(p);
}

#[test]
fn redis_that_is_down_fails_its_steps_with_a_reason() {
    let ws = Workspace::new();
    let pb = format!(
        "{HEADER}  cache:\n    connector: redis\n    url: ${{env:DSR_IT_DOWN_URL}}\n    retries: 0\n    purpose: P\n    legal_basis: contract\n    retention: 1 day\n    collections:\n      s:\n        keys: [\"session:{{email}}\"]\n        match: {{ email: identity.email }}\n"
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws
        .dsr()
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "b",
        ])
        .env("DSR_IT_DOWN_URL", "redis://127.0.0.1:1/0"));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let step = &out["steps"][0];
    assert_eq!(step["status"], "failed");
    assert!(
        step["reason"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect"),
        "{step}"
    );
}

#[test]
fn redis_settings_are_checked_with_their_lines() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        r#"version: 1
organisation: T
identities: [email]
systems:
  cache:
    connector: redis
    url: ${env:DSR_TEST_REDIS_URL}
    schema: app
    purpose: P
    legal_basis: contract
    retention: 1 day
    collections:
      nokeys:
        match: { email: identity.email }
      bad:
        keys: ["session:{emial}:*", "all:*", "x:{email"]
        match: { email: identity.email }
      masked:
        table: sessions
        keys: ["profile:{email}"]
        match: { email: identity.email, phone: identity.email }
        erase: { mask: { value: redact } }
  db:
    connector: sqlite
    path: x.db
    max_keys: 5
    purpose: P
    legal_basis: contract
    retention: 1 day
    collections:
      users:
        keys: ["u:{email}"]
        match: { email: identity.email }
"#,
    );
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let expected = [
        "pb.yaml:8:5: systems.cache.schema: `schema` does not apply to redis systems",
        "pb.yaml:13:7: systems.cache.collections.nokeys: a redis collection needs `keys:`",
        "pb.yaml:16:15: systems.cache.collections.bad.keys: placeholder '{emial}' is not an entry of `match`",
        "pb.yaml:16:15: systems.cache.collections.bad.keys: 'all:*': the template has no placeholder, so it would match every person's records",
        "pb.yaml:16:15: systems.cache.collections.bad.keys: 'x:{email': unclosed '{' in template",
        "pb.yaml:19:9: systems.cache.collections.masked.table: `table` does not apply to redis systems",
        "pb.yaml:21:41: systems.cache.collections.masked.match.phone: match entry 'phone' is used by no template",
        "pb.yaml:22:26: systems.cache.collections.masked.erase.mask.value: 'value' cannot be masked",
        "pb.yaml:26:5: systems.db.max_keys: `max_keys` does not apply to sqlite systems",
        "pb.yaml:32:9: systems.db.collections.users.keys: `keys` does not apply to sqlite systems",
    ];
    for e in expected {
        assert!(r.stderr.contains(e), "missing {e:?} in:\n{}", r.stderr);
    }
    assert!(
        r.stderr.contains("hint: did you mean '{email}'?"),
        "{}",
        r.stderr
    );
}

/// A Redis server of this test's own that speaks only TLS, with a certificate from a CA made
/// here; stopped when dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed to make the test's certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls_redis(dir: &std::path::Path) -> TlsRedis {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=dsr test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "srv.pem",
            "--tls-key-file",
            "srv.key",
            "--tls-ca-cert-file",
            "ca.pem",
        ])
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (with TLS support) is needed for the TLS test");
    let server = TlsRedis {
        child,
        port,
        ca: dir.join("ca.pem"),
    };
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the TLS Redis did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server
}

#[test]
fn redis_over_tls_verifies_the_server_against_the_system_trust_store() {
    let ws = Workspace::new();
    let server = tls_redis(ws.path());
    let url = format!("rediss://127.0.0.1:{}/0", server.port);
    let ca = server.ca.display().to_string();
    // Seeded with redis-cli, so the data does not depend on the code under test.
    let seeded = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert", &ca, "-p", &server.port.to_string()])
        .args(["SET", "session:alice@example.com:tls", "over-tls"])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let pb = format!(
        "{HEADER}  cache:\n    connector: redis\n    url: ${{env:DSR_IT_TLS_URL}}\n    retries: 0\n    purpose: P\n    legal_basis: contract\n    retention: 1 day\n    collections:\n      s:\n        keys: [\"session:{{email}}:*\"]\n        match: {{ email: identity.email }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);

    // The test's CA is trusted only where SSL_CERT_FILE says so.
    let untrusted = run(ws
        .dsr()
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "a",
        ])
        .env("DSR_IT_TLS_URL", &url)
        .env_remove("SSL_CERT_FILE"));
    assert_eq!(
        untrusted.code, 1,
        "{}\n{}",
        untrusted.stdout, untrusted.stderr
    );
    assert!(
        untrusted
            .stdout
            .contains("cannot connect: invalid peer certificate"),
        "{}",
        untrusted.stdout
    );

    let r = run(ws
        .dsr()
        .args([
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ])
        .env("DSR_IT_TLS_URL", &url)
        .env("SSL_CERT_FILE", &ca));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["systems"][0]["collections"][0]["deleted"], 1);
    assert_eq!(out["systems"][0]["collections"][0]["verified"], true);
}
