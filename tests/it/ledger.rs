//! The shared ledger on PostgreSQL: `--ledger` / `DSR_LEDGER` / `ledger:`, `dsr worker`, and
//! several workers sharing one queue. Each test keeps its ledger in a schema of its own.

use crate::fakes;
use crate::support::{pg_exec, pg_strings, pg_url, run};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A ledger in a fresh schema, dropped when the test ends.
struct Ledger {
    schema: String,
    url: String,
}

impl Ledger {
    fn new(tag: &str) -> Self {
        let schema = format!(
            "dsr_it_{tag}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let url = format!("{}?schema={schema}", pg_url());
        Self { schema, url }
    }

    /// The first column of `query`, with `{s}` standing for the schema.
    fn strings(&self, query: &str) -> Vec<String> {
        pg_strings(&query.replace("{s}", &format!("\"{}\"", self.schema)))
    }

    fn count(&self, query: &str) -> usize {
        self.strings(&format!("SELECT count(*)::text FROM {query}"))[0]
            .parse()
            .unwrap()
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        pg_exec(&[&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        )]);
    }
}

/// Waits until `done` holds, checking every 100 ms, for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_due_on_the_shared_ledger_runs_only_what_is_due() {
    let ledger = Ledger::new("due");
    crate::due::run_due_runs_only_what_is_due_on(Some(&ledger.url));
    assert_eq!(ledger.count("{s}.queue WHERE status = 'done'"), 1);
    assert_eq!(ledger.count("{s}.queue WHERE status = 'queued'"), 1);
    // The identities of the request that ran are gone; the waiting one's are kept.
    assert_eq!(ledger.count("{s}.queue WHERE request IS NOT NULL"), 1);
    assert_eq!(
        ledger.count("{s}.journal_requests WHERE request IS NOT NULL"),
        0
    );
}

#[test]
fn two_overlapping_run_dues_on_the_shared_ledger_never_take_the_same_request() {
    let ledger = Ledger::new("overlap");
    crate::due::two_overlapping_run_dues_never_take_the_same_request_on(Some(&ledger.url));
    assert_eq!(ledger.count("{s}.queue WHERE status = 'done'"), 16);
    assert_eq!(ledger.count("{s}.queue WHERE attempts <> 1"), 0);
}

#[test]
fn the_shared_ledger_lists_every_request_in_every_state() {
    let ledger = Ledger::new("states");
    crate::evidence::every_state_on(Some(&ledger.url));
    // Closing and finishing left no identities behind.
    assert_eq!(
        ledger.count("{s}.queue WHERE status = 'closed' AND request IS NOT NULL"),
        0
    );
    assert_eq!(
        ledger.count("{s}.journal_requests WHERE status = 'closed' AND request IS NOT NULL"),
        0
    );
}

#[test]
fn an_export_with_a_manual_step_resumes_from_the_shared_journal() {
    let ledger = Ledger::new("manual");
    crate::evidence::manual_export_on(Some(&ledger.url));
    assert_eq!(
        ledger.count("{s}.journal_requests WHERE action = 'export' AND status = 'done'"),
        1
    );
    assert_eq!(
        ledger.count("{s}.journal_requests WHERE request IS NOT NULL AND status = 'done'"),
        0
    );
}

#[test]
fn the_playbook_names_the_ledger_and_the_flag_overrides_it() {
    let ledger = Ledger::new("playbook");
    let other = Ledger::new("flag");
    let ws = crate::export_sqlite::demo_workspace();
    let demo = std::fs::read_to_string(ws.path().join("demo.yaml")).unwrap();
    ws.write(
        "demo.yaml",
        &demo.replacen(
            "version: 1\n",
            "version: 1\nledger: ${env:TEST_LEDGER_URL}\n",
            1,
        ),
    );
    let add = |extra: &[&str]| {
        let mut cmd = ws.dsr();
        cmd.env("TEST_LEDGER_URL", &ledger.url)
            .args(["--json", "--playbook", "demo.yaml"])
            .args(extra)
            .args(["requests", "add", "export", "alice@example.com"]);
        run(&mut cmd)
    };
    let r = add(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = add(&["--ledger", &other.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ledger.count("{s}.queue"), 1);
    assert_eq!(other.count("{s}.queue"), 1);
    // Commands that take no playbook of their own read the ledger from --playbook's.
    let q = run(ws.dsr().env("TEST_LEDGER_URL", &ledger.url).args([
        "--json",
        "--playbook",
        "demo.yaml",
        "requests",
        "queue",
    ]));
    assert_eq!(q.code, 0, "{}", q.stderr);
    let rows: Vec<Value> = serde_json::from_str(&q.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !ws.path().join(".dsr-state/state.db").exists(),
        "nothing went to the embedded ledger"
    );
    // A machine with keys of its own would hash and sign differently: it is refused.
    let r = run(ws
        .dsr()
        .env("TEST_LEDGER_URL", &ledger.url)
        .env("DSR_STATE_DIR", ws.path().join("elsewhere"))
        .args(["--playbook", "demo.yaml", "requests", "queue"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("subject-hmac.key is not the one the shared ledger's other workers use"),
        "{}",
        r.stderr
    );
    // Without the variable the playbook's ledger cannot be resolved: an error, not a silent
    // switch to the embedded ledger.
    let r = run(ws
        .dsr()
        .args(["--playbook", "demo.yaml", "requests", "queue"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("TEST_LEDGER_URL"), "{}", r.stderr);
    // Commands that use no ledger and no secrets do not need it.
    let r = run(ws.dsr().args(["--playbook", "demo.yaml", "map"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Record of processing activities"));
}

/// Runs `cmd`: it must exit 2 saying `expected`, and never show the password `hunter2`.
fn fails_saying(cmd: &mut assert_cmd::Command, expected: &[&str]) {
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for e in expected {
        assert!(r.stderr.contains(e), "expected '{e}' in: {}", r.stderr);
    }
    assert!(
        !format!("{}{}", r.stdout, r.stderr).contains("hunter2"),
        "{}",
        r.stderr
    );
}

#[test]
fn ledger_mistakes_are_clear_and_never_show_the_password() {
    let ws = crate::export_sqlite::demo_workspace();
    let list = |ledger: &str| {
        let mut cmd = ws.dsr();
        cmd.env("DSR_LEDGER", ledger).args(["requests", "list"]);
        cmd
    };
    fails_saying(
        &mut list("mysql://dsr:hunter2@db/ops"),
        &["--ledger: the ledger 'mysql://dsr:***@db/ops' is not a PostgreSQL URL"],
    );
    fails_saying(
        &mut list("postgres://dsr:hunter2@db/ops?schema=a;b"),
        &["schema 'a;b' is not a plain name"],
    );
    fails_saying(
        &mut list("postgres://dsr:hunter2@127.0.0.1:1/ops"),
        &["cannot use the shared ledger at postgres://dsr:***@127.0.0.1:1/ops"],
    );
    let mut help = list("postgres://dsr:hunter2@127.0.0.1:1/ops");
    let help = run(help.args(["--help"]));
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--ledger <URL>"), "{}", help.stdout);
    assert!(!help.stdout.contains("hunter2"), "{}", help.stdout);

    // In the playbook: a password written inline, and a misspelt key.
    let demo = std::fs::read_to_string(ws.path().join("demo.yaml")).unwrap();
    let with = |name: &str, line: &str| {
        ws.write(
            name,
            &demo.replacen("version: 1\n", &format!("version: 1\n{line}\n"), 1),
        );
    };
    with("inline.yaml", "ledger: postgres://dsr:hunter2@db/ops");
    let inline = [
        "inline.yaml:5:9: ledger:",
        "the ledger URL holds a password inline",
    ];
    fails_saying(ws.dsr().args(["validate", "inline.yaml"]), &inline);
    fails_saying(
        ws.dsr()
            .args(["--playbook", "inline.yaml", "requests", "list"]),
        &inline,
    );
    with("typo.yaml", "ledgr: postgres://dsr@db/ops");
    fails_saying(
        ws.dsr().args(["validate", "typo.yaml"]),
        &["did you mean 'ledger'"],
    );
}

/// The Stripe example playbook, as `pb.yaml`, pointed at the fake at `url`.
fn stripe_workspace(url: &str) -> crate::support::Workspace {
    crate::saas::example(
        "stripe.yaml",
        url,
        &[("STRIPE_API_KEY", fakes::stripe::KEY)],
    )
    .0
}

/// `dsr requests add erase EMAIL` on `ledger`; the request id.
fn queue_erase(ws: &crate::support::Workspace, ledger: &Ledger, email: &str) -> String {
    let r = run(ws.dsr().env("DSR_LEDGER", &ledger.url).args([
        "--json",
        "--playbook",
        "pb.yaml",
        "requests",
        "add",
        "erase",
        email,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["request_id"].as_str().unwrap().to_string()
}

/// A `dsr worker` process whose JSON lines are collected as they come.
struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn start(ws: &crate::support::Workspace, ledger: &Ledger, out: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("dsr"))
            .args(["--json", "--playbook", "pb.yaml", "worker", "--jobs", "2"])
            .args(["--poll", "200ms", "--out", out])
            .args(extra)
            .current_dir(ws.path())
            .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
            .env("DSR_LEDGER", &ledger.url)
            .env_remove("DSR_PLAYBOOK")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dsr worker");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                // One line per finished request; the summary line at the end is not one.
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("request_id").is_some()
                {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: a plain kill(2) of the child this test started.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }

    /// Waits for the process to end (at most `limit`); its exit code, and its JSON lines.
    fn wait(mut self, limit: Duration) -> (Option<i32>, Vec<Value>) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("worker {} did not stop within {limit:?}", self.pid());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let lines = self.lines.lock().unwrap().clone();
        (status.code(), lines)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three workers on one shared ledger erase 300 people at a Stripe fake; one is killed with
/// SIGKILL part way. Every customer is deleted exactly once, the dead worker's requests are
/// taken over when their leases run out, and the others stop cleanly on SIGTERM.
#[test]
fn three_workers_share_one_queue_and_take_over_a_dead_workers_requests() {
    const PEOPLE: usize = 300;
    let ledger = Ledger::new("workers");
    let (fake, url) = fakes::stripe::start();
    let customers = (0..PEOPLE)
        .map(|i| json!({"id": format!("cus_{i:03}"), "object": "customer", "email": format!("person{i:03}@example.com"), "name": format!("Person {i}")}))
        .collect();
    fake.seed("customers", customers);
    let ws = stripe_workspace(&url);

    // Queue everyone, eight `requests add` at a time.
    let queued: Mutex<BTreeSet<String>> = Mutex::default();
    std::thread::scope(|scope| {
        for lane in 0..8 {
            let (ws, ledger, queued) = (&ws, &ledger, &queued);
            scope.spawn(move || {
                for i in (lane..PEOPLE).step_by(8) {
                    let id = queue_erase(ws, ledger, &format!("person{i:03}@example.com"));
                    queued.lock().unwrap().insert(id);
                }
            });
        }
    });
    let queued = queued.into_inner().unwrap();
    assert_eq!(queued.len(), PEOPLE);
    let deletes_before = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("DELETE"))
        .count();
    assert_eq!(deletes_before, 0, "queuing runs nothing");

    let lease = ["--lease", "3s"];
    let doomed = Worker::start(&ws, &ledger, "out-0", &lease);
    let doomed_pid = doomed.pid();
    let survivors = [
        Worker::start(&ws, &ledger, "out-1", &lease),
        Worker::start(&ws, &ledger, "out-2", &lease),
    ];
    let done = || ledger.count("{s}.queue WHERE status = 'done'");
    // Kill the first worker once the run is well under way and it holds claims.
    let held_by_doomed =
        format!("{{s}}.queue WHERE status = 'claimed' AND claimed_by LIKE '%:{doomed_pid}:%'");
    wait_for(
        "the first worker to be busy",
        Duration::from_secs(60),
        || done() >= 30 && ledger.count(&held_by_doomed) > 0,
    );
    doomed.signal(libc::SIGKILL);
    let (code, doomed_lines) = doomed.wait(Duration::from_secs(10));
    assert_eq!(code, None, "killed by a signal");
    let orphaned: Vec<String> = ledger.strings(&format!("SELECT id FROM {held_by_doomed}"));
    assert!(!orphaned.is_empty(), "the dead worker held claims");

    wait_for("all requests to be done", Duration::from_secs(180), || {
        done() == PEOPLE
    });
    // The dead worker's requests were finished by the others, after its lease.
    for id in &orphaned {
        let holder = ledger.strings(&format!(
            "SELECT claimed_by || ' ' || attempts FROM {{s}}.queue WHERE id = '{id}'"
        ));
        let (by, attempts) = holder[0].rsplit_once(' ').unwrap();
        assert!(
            !by.contains(&format!(":{doomed_pid}:")),
            "{id} is still the dead worker's"
        );
        assert!(
            attempts.parse::<u32>().unwrap() >= 2,
            "{id} was claimed again: {attempts}"
        );
    }

    // The survivors stop cleanly on SIGTERM.
    let mut ran: Vec<String> = doomed_lines
        .iter()
        .filter_map(|l| l["request_id"].as_str().map(str::to_string))
        .collect();
    for w in survivors {
        w.signal(libc::SIGTERM);
        let (code, lines) = w.wait(Duration::from_secs(30));
        assert_eq!(code, Some(0), "a clean stop");
        for l in &lines {
            assert_eq!(l["outcome"], "done", "{l}");
        }
        ran.extend(
            lines
                .iter()
                .filter_map(|l| l["request_id"].as_str().map(str::to_string)),
        );
    }
    let ran_once: BTreeSet<String> = ran.iter().cloned().collect();
    assert_eq!(ran.len(), ran_once.len(), "a request was finished twice");
    assert!(ran_once.is_subset(&queued), "only queued requests ran");
    assert!(
        orphaned.iter().all(|id| ran_once.contains(id)),
        "the orphaned requests were finished by the survivors"
    );

    // Exactly one write per person at the fake.
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for r in fake.requests() {
        if let Some(id) = r.strip_prefix("DELETE /v1/customers/") {
            *deletes.entry(id.to_string()).or_default() += 1;
        }
    }
    assert_eq!(deletes.len(), PEOPLE, "every customer was deleted");
    let twice: Vec<_> = deletes.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "written more than once: {twice:?}");
    assert!(fake.records("customers").is_empty());

    // The ledger: every request done, no identities left.
    assert_eq!(ledger.count("{s}.requests WHERE status = 'done'"), PEOPLE);
    assert_eq!(ledger.count("{s}.queue WHERE request IS NOT NULL"), 0);
    assert_eq!(
        ledger.count("{s}.journal_requests WHERE request IS NOT NULL"),
        0
    );
    assert_eq!(
        ledger.count("{s}.journal_steps WHERE provided IS NOT NULL OR changes IS NOT NULL"),
        0
    );
}

/// A request slower than the lease keeps its claim while its worker renews it; on SIGTERM the
/// worker hands it back and another worker finishes it, writing once.
#[test]
fn a_slow_request_keeps_its_claim_and_is_handed_back_on_sigterm() {
    let ledger = Ledger::new("handback");
    let (fake, url) = fakes::stripe::start();
    let ws = stripe_workspace(&url);
    let id = queue_erase(&ws, &ledger, "bob@example.com");
    // The first call of the request is told to come back in 30 seconds.
    *fake.retry_after.lock().unwrap() = "30".into();
    fake.throttle.store(1, std::sync::atomic::Ordering::SeqCst);
    let slow = Worker::start(
        &ws,
        &ledger,
        "out-slow",
        &["--lease", "3s", "--grace", "200ms"],
    );
    let row = |column: &str| {
        ledger.strings(&format!(
            "SELECT {column}::text FROM {{s}}.queue WHERE id = '{id}'"
        ))[0]
            .clone()
    };
    wait_for("the claim", Duration::from_secs(20), || {
        row("status") == "claimed"
    });
    let first_lease = row("lease_until");
    let other = Worker::start(&ws, &ledger, "out-other", &["--lease", "3s"]);
    // The lease is renewed past its first end, and nobody takes the request over.
    wait_for(
        "a renewal past the first lease",
        Duration::from_secs(15),
        || {
            let now = ledger.strings(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            )[0]
            .clone();
            now > first_lease && row("lease_until") > now
        },
    );
    assert_eq!(
        row("attempts"),
        "1",
        "not taken over while its worker lives"
    );
    assert!(row("claimed_by").contains(&format!(":{}:", slow.pid())));

    slow.signal(libc::SIGTERM);
    let (code, lines) = slow.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "a clean stop");
    assert!(lines.is_empty(), "it finished nothing: {lines:?}");
    wait_for(
        "the other worker to finish it",
        Duration::from_secs(30),
        || row("status") == "done",
    );
    assert!(row("claimed_by").contains(&format!(":{}:", other.pid())));
    assert_eq!(
        row("attempts"),
        "1",
        "the handed-back attempt does not count"
    );
    let deletes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("DELETE /v1/customers/cus_B1"))
        .count();
    assert_eq!(deletes, 1);
    other.signal(libc::SIGTERM);
    let (code, lines) = other.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["request_id"], id.as_str());
}
