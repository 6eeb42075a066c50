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
}

/// Output of a finished command as text.
#[derive(Clone)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Ran {
    let out = cmd.output().expect("run dsr");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
