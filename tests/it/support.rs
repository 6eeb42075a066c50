//! Shared helpers: the binary, temp workspaces, database fixtures.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

pub fn pg_url() -> String {
    std::env::var("DSR_TEST_PG_URL").unwrap_or_else(|_| PG_DEFAULT.into())
}

pub fn mysql_url() -> String {
    std::env::var("DSR_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_DEFAULT.into())
}

/// The repository root (for the demo playbook).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary directory to run dsr in, with helpers to write playbooks into it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `dsr` running in this workspace with a clean environment for dsr's own variables.
    pub fn dsr(&self) -> Command {
        let mut cmd = Command::cargo_bin("dsr").expect("dsr binary");
        cmd.current_dir(self.path())
            .env_remove("DSR_PLAYBOOK")
            .env_remove("DSR_CONCURRENCY")
            .env_remove("DSR_OPERATOR")
            .env_remove("DSR_LEDGER")
            // Tables fit COLUMNS when it is set; tests see them at their natural width.
            .env_remove("COLUMNS")
            .env("DSR_STATE_DIR", self.path().join(".dsr-state"))
            .env("NO_COLOR", "1")
            .env("DSR_TEST_PG_URL", pg_url())
            .env("DSR_TEST_MYSQL_URL", mysql_url())
            .env("DSR_TEST_REDIS_URL", redis_url());
        cmd
    }

    /// `dsr ARGS` in this workspace, run to the end: `ws.run(["validate", "pb.yaml"])`.
    pub fn run<I, S>(&self, args: I) -> Ran
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run(self.dsr().args(args))
    }
}

/// A finished dsr run: its exit code and both output streams as text, with checks that make a
/// test read as a sentence and look at every stream:
///
/// ```ignore
/// ws.run(["validate", "pb.yaml"]).exits(2).stdout_empty().stderr_has("pb.yaml:4:");
/// let plan = ws.run(["--json", "plan", "export", "alice@example.com"]).exits(0).stderr_empty().json();
/// ```
///
/// Each check takes the run and hands it back, so checks chain and the run can still be kept
/// (`let r = ws.run(…).exits(0);`). A failing check panics at the test's line (not here) with
/// the command, its exit code and both streams in full.
#[derive(Clone)]
pub struct Ran {
    /// The command line as run, for failure messages: `dsr validate pb.yaml`.
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from_output(command: String, out: &std::process::Output) -> Self {
        Ran {
            command,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The whole run, for a failure message.
    fn shown(&self) -> String {
        format!(
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    /// The exit code is `code`.
    #[track_caller]
    pub fn exits(self, code: i32) -> Self {
        if self.code != code {
            panic!(
                "expected exit code {code}, got {}\n{}",
                self.code,
                self.shown()
            );
        }
        self
    }

    /// stdout is exactly `expected`.
    #[track_caller]
    pub fn stdout_is(self, expected: impl AsRef<str>) -> Self {
        self.stream_is("stdout", &self.stdout, expected.as_ref());
        self
    }

    /// stderr is exactly `expected`.
    #[track_caller]
    pub fn stderr_is(self, expected: impl AsRef<str>) -> Self {
        self.stream_is("stderr", &self.stderr, expected.as_ref());
        self
    }

    /// stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: impl AsRef<str>) -> Self {
        self.stream_has("stdout", &self.stdout, needle.as_ref());
        self
    }

    /// stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: impl AsRef<str>) -> Self {
        self.stream_has("stderr", &self.stderr, needle.as_ref());
        self
    }

    /// stdout does not contain `needle`.
    #[track_caller]
    pub fn stdout_lacks(self, needle: impl AsRef<str>) -> Self {
        self.stream_lacks("stdout", &self.stdout, needle.as_ref());
        self
    }

    /// stderr does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(self, needle: impl AsRef<str>) -> Self {
        self.stream_lacks("stderr", &self.stderr, needle.as_ref());
        self
    }

    /// stdout or stderr contains `needle` (for text that either may carry, e.g. with `--json`).
    #[track_caller]
    pub fn output_has(self, needle: impl AsRef<str>) -> Self {
        let needle = needle.as_ref();
        if !self.stdout.contains(needle) && !self.stderr.contains(needle) {
            panic!("neither stream contains {needle:?}\n{}", self.shown());
        }
        self
    }

    /// Neither stream contains `needle` (a secret, a path, a person's data).
    #[track_caller]
    pub fn output_lacks(self, needle: impl AsRef<str>) -> Self {
        self.stdout_lacks(needle.as_ref()).stderr_lacks(needle)
    }

    /// Nothing on stdout.
    #[track_caller]
    pub fn stdout_empty(self) -> Self {
        self.stdout_is("")
    }

    /// Nothing on stderr.
    #[track_caller]
    pub fn stderr_empty(self) -> Self {
        self.stderr_is("")
    }

    /// stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", self.shown()))
    }

    #[track_caller]
    fn stream_is(&self, name: &str, actual: &str, expected: &str) {
        if actual == expected {
            return;
        }
        let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
        let first = (0..a.len().max(e.len()))
            .find(|&i| a.get(i) != e.get(i))
            .unwrap_or(a.len().min(e.len()));
        panic!(
            "{name} differs, first at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             --- expected {name} ---\n{expected}\n--- (as a string) ---\n{expected:?}\n\
             --- actual {name} (as a string) ---\n{actual:?}\n{}",
            first + 1,
            e.get(first).copied().unwrap_or("<end>"),
            a.get(first).copied().unwrap_or("<end>"),
            self.shown()
        );
    }

    #[track_caller]
    fn stream_has(&self, name: &str, actual: &str, needle: &str) {
        if !actual.contains(needle) {
            panic!("{name} does not contain {needle:?}\n{}", self.shown());
        }
    }

    #[track_caller]
    fn stream_lacks(&self, name: &str, actual: &str, needle: &str) {
        if actual.contains(needle) {
            panic!("{name} contains {needle:?}, and must not\n{}", self.shown());
        }
    }
}

/// Runs `cmd` to the end and keeps its output as text.
pub fn run(cmd: &mut Command) -> Ran {
    let mut words = vec!["dsr".to_string()];
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        words.push(if a.is_empty() || a.contains([' ', '"', '\'']) {
            format!("{a:?}")
        } else {
            a.into_owned()
        });
    }
    let out = cmd.output().expect("run dsr");
    Ran::from_output(words.join(" "), &out)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs SQL statements against PostgreSQL, failing with advice when it is unreachable.
pub fn pg_exec(statements: &[&str]) {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut conn = sqlx::PgConnection::connect(&pg_url()).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {} ({e}). Start it with `scripts/services`, or set DSR_TEST_PG_URL.", pg_url())
        });
        for s in statements {
            sqlx::raw_sql(s).execute(&mut conn).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    });
}

/// Runs SQL statements against MariaDB/MySQL, failing with advice when it is unreachable.
pub fn mysql_exec(statements: &[&str]) {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut conn = sqlx::MySqlConnection::connect(&mysql_url()).await.unwrap_or_else(|e| {
            panic!("MariaDB/MySQL is not reachable at {} ({e}). Start it with `scripts/services`, or set DSR_TEST_MYSQL_URL.", mysql_url())
        });
        for s in statements {
            sqlx::raw_sql(s).execute(&mut conn).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    });
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Checks every manifest entry against the file on disk.
pub fn assert_manifest_matches(bundle: &Path) {
    use sha2::{Digest, Sha256};
    let manifest = read_json(&bundle.join("manifest.json"));
    let files = manifest["files"].as_array().expect("files");
    assert!(!files.is_empty());
    for f in files {
        let path = bundle.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.len() as u64,
            f["bytes"].as_u64().unwrap(),
            "size of {}",
            path.display()
        );
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            f["sha256"].as_str().unwrap(),
            "hash of {}",
            path.display()
        );
    }
}

/// Runs one query against PostgreSQL; every row's first column as text.
pub fn pg_strings(query: &str) -> Vec<String> {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut conn = sqlx::PgConnection::connect(&pg_url())
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL is not reachable ({e}); start it with `scripts/services`")
            });
        sqlx::query_scalar::<_, Option<String>>(query)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    })
}

/// Runs one query against MariaDB/MySQL; every row's first column as text.
pub fn mysql_strings(query: &str) -> Vec<String> {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut conn = sqlx::MySqlConnection::connect(&mysql_url())
            .await
            .unwrap_or_else(|e| {
                panic!("MariaDB is not reachable ({e}); start it with `scripts/services`")
            });
        sqlx::query_scalar::<_, Option<String>>(query)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    })
}

/// Playbook text for database tests: a header and systems built with [`system`].
pub const HEADER: &str = "version: 1\norganisation: Test Org\nidentities: [email]\nsystems:\n";

pub fn system(name: &str, connector: &str, url: &str, extra: &str, collections: &str) -> String {
    format!(
        "  {name}:\n    connector: {connector}\n    url: {url}\n{extra}    purpose: Testing\n    legal_basis: contract\n    retention: 1 day\n    collections:\n{collections}"
    )
}

pub const REDIS_DEFAULT: &str = "redis://127.0.0.1:6379/0";

pub fn redis_url() -> String {
    std::env::var("DSR_TEST_REDIS_URL").unwrap_or_else(|_| REDIS_DEFAULT.into())
}

/// A connection to the test Redis, failing with advice when it is unreachable.
pub fn redis_conn() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {} ({e}). Start it with `scripts/services`, or set DSR_TEST_REDIS_URL.",
                redis_url()
            )
        })
}

/// Deletes every key under `prefix` (each test uses a prefix of its own).
pub fn redis_clear(prefix: &str) {
    let mut c = redis_conn();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut c)
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for k in keys {
        let _: () = redis::cmd("DEL").arg(k).query(&mut c).unwrap();
    }
}

/// Peak resident memory of one dsr run, in KiB, measured by GNU time.
pub fn peak_rss_kib(ws: &Workspace, env: &[(&str, &str)], args: &[&str]) -> (i32, String, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is needed to measure memory: apt-get install time"
    );
    let report = ws.path().join("rss.txt");
    let dsr = assert_cmd::cargo::cargo_bin("dsr");
    let out = std::process::Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(dsr)
        .args(args)
        .current_dir(ws.path())
        .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
        .env_remove("DSR_PLAYBOOK")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let kib = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        kib,
    )
}

/// The S3-compatible server the object storage tests use: moto in server mode, started once
/// per test run on a free port and stopped when the tests exit (it reads its standard input
/// until the test process closes it). Its endpoint.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(start_moto)
}

const MOTO_SCRIPT: &str = "
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
";

fn start_moto() -> String {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let log = std::env::temp_dir().join(format!("dsr-test-moto-{}.log", std::process::id()));
    let advice = "install it with `python3 -m pip install 'moto[server]'` (scripts/test does when it is missing)";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(MOTO_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("moto log file"))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 for the S3 test server moto ({e}); {advice}")
        });
    let mut line = String::new();
    let stdout = child.stdout.take().expect("moto stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("moto output");
    let Ok(port) = line.trim().parse::<u16>() else {
        let why = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("the S3 test server moto did not start: {advice}\n{why}");
    };
    // Kept open for as long as the tests run; moto exits when it closes.
    std::mem::forget(child.stdin.take());
    std::mem::forget(child);
    format!("http://127.0.0.1:{port}")
}

/// The environment an S3 test's dsr (and the tests' own client) runs with: fake credentials
/// moto accepts, and no profile or instance metadata lookups.
pub const S3_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "dsr-test-secret-key"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];
