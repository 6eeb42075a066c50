//! Masks checked against the live columns: a mask whose value a column cannot hold (or read
//! back as written), a `null` mask on a NOT NULL column and a mask on a key column are refused
//! by `dsr validate --connect` and by `dsr erase` before anything is written, on PostgreSQL,
//! MariaDB and SQLite. Masks that fit still validate and erase.

use crate::support::{HEADER, Ran, Workspace, mysql_exec, mysql_strings, pg_exec, pg_strings, run};
use serde_json::Value;

/// A mask entry the playbook has on a line of its own, e.g. `token: random`.
struct Unfit {
    /// The entry as written, unique in the playbook.
    entry: &'static str,
    /// The field path from the collection on: `people.erase.mask.token`.
    field: &'static str,
    /// Words the message must have.
    says: &'static [&'static str],
}

fn dsr(ws: &Workspace, args: &[&str]) -> Ran {
    run(ws.dsr().args(args).env("DSR_TEST_HASH_KEY", "k3y"))
}

/// `pb.yaml:LINE:COLUMN` of `entry`.
fn position(pb: &str, entry: &str) -> String {
    let (line, text) = pb
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim() == entry)
        .unwrap_or_else(|| panic!("{entry} not in the playbook"));
    format!("pb.yaml:{}:{}", line + 1, text.find(entry).unwrap() + 1)
}

/// Every unfit entry is reported at its line with its hint, and nothing else is.
fn assert_reported(stderr: &str, pb: &str, unfit: &[Unfit]) {
    let reported: Vec<&str> = stderr
        .lines()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .filter(|l| l.starts_with("pb.yaml:"))
        .collect();
    assert_eq!(reported.len(), unfit.len(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    for u in unfit {
        let start = format!(
            "{}: systems.app.collections.{}: cannot mask column",
            position(pb, u.entry),
            u.field
        );
        let i = lines
            .iter()
            .position(|l| l.contains(&start))
            .unwrap_or_else(|| panic!("no `{start}` in:\n{stderr}"));
        for word in u.says {
            assert!(lines[i].contains(word), "`{word}` not in: {}", lines[i]);
        }
        assert!(
            lines.get(i + 1).is_some_and(|h| h.starts_with("  hint: ")),
            "no hint after: {}",
            lines[i]
        );
    }
}

/// validate --connect and erase (dry run or not) refuse the playbook, and nothing changes;
/// without the unfit entries it validates and the erase masks and verifies.
fn check(ws: &Workspace, pb: &str, unfit: &[Unfit], snapshot: &dyn Fn() -> Vec<String>) {
    ws.write("pb.yaml", pb);
    let before = snapshot();
    let r = dsr(ws, &["validate", "--connect", "pb.yaml"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_reported(&r.stderr, pb, unfit);
    assert!(
        r.stderr.ends_with(&format!("{} errors\n", unfit.len())),
        "{}",
        r.stderr
    );
    // Without --connect the playbook is valid: these checks need the database.
    assert_eq!(dsr(ws, &["validate", "pb.yaml"]).code, 0);

    for extra in [&["--yes"][..], &["--dry-run"][..]] {
        let mut args = vec!["erase", "alice@example.com", "--playbook", "pb.yaml"];
        args.extend(extra);
        let r = dsr(ws, &args);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.starts_with(&format!(
                "error: refusing to erase: {} masks cannot be written; nothing was changed\n",
                unfit.len()
            )),
            "{}",
            r.stderr
        );
        assert_reported(&r.stderr, pb, unfit);
        assert_eq!(snapshot(), before, "nothing was written");
    }
    ws.write("people.csv", "email\nalice@example.com\n");
    let r = dsr(
        ws,
        &[
            "batch",
            "erase",
            "people.csv",
            "--playbook",
            "pb.yaml",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2, "batch: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with("error: refusing to erase: "),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(), before, "nothing was written");
    assert!(
        !ws.path().join(".dsr-state/state.db").exists()
            || crate::erase::journal_value(
                &crate::support::runtime(),
                ws,
                "SELECT id FROM journal_requests"
            )
            .is_none(),
        "no request was started"
    );

    // The entries that fit.
    let fits: String = pb
        .lines()
        .filter(|l| !unfit.iter().any(|u| l.trim() == u.entry))
        .map(|l| format!("{l}\n"))
        .collect();
    ws.write("pb.yaml", &fits);
    let r = dsr(ws, &["validate", "--connect", "pb.yaml"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = dsr(
        ws,
        &[
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    for c in out["systems"][0]["collections"].as_array().unwrap() {
        assert_eq!(
            (&c["masked"], &c["verified"]),
            (&1.into(), &true.into()),
            "{c}"
        );
    }
    assert_ne!(snapshot(), before);
}

fn playbook(connector: &str, location: &str, people: &str, visits: &str) -> String {
    format!(
        "hash_key: ${{env:DSR_TEST_HASH_KEY}}\n{HEADER}  app:\n    connector: {connector}\n{location}    purpose: Testing\n    legal_basis: contract\n    retention: 1 day\n    collections:\n\
         \x20     people:\n        match: {{ email: identity.email }}\n        erase:\n          mask:\n{people}\
         \x20     visits:\n        match: {{ email: identity.email }}\n        key: [ref]\n        erase:\n          mask:\n{visits}"
    )
}

fn entries(list: &[&str]) -> String {
    list.iter().map(|e| format!("            {e}\n")).collect()
}

/// The cases every server shares: a NOT NULL column, the primary key, the `key:` column.
const COMMON: [Unfit; 3] = [
    Unfit {
        entry: "nick: 'null'",
        field: "people.erase.mask.nick",
        says: &["with null", "NOT NULL"],
    },
    Unfit {
        entry: "id: hash",
        field: "people.erase.mask.id",
        says: &["with hash", "key"],
    },
    Unfit {
        entry: "ref: redact",
        field: "visits.erase.mask.ref",
        says: &["with redact", "key"],
    },
];

#[test]
fn postgres_masks_that_cannot_be_written_are_refused_before_any_write() {
    let schema = "dsr_it_mask_fit";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!(
            "CREATE TABLE {schema}.people (id int PRIMARY KEY, email text NOT NULL, token uuid, total numeric(10,2), \
             doc jsonb, photo bytea, nick text NOT NULL, code varchar(5), pad char(12), tags text[], score int, \
             name text, born date, label varchar(20))"
        ),
        &format!(
            "INSERT INTO {schema}.people VALUES \
             (1, 'alice@example.com', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9.99, '{{\"a\": 1}}', '\\x0102', 'ally', 'A1', 'p', '{{x}}', 42, 'Alice', '1988-04-12', 'gold'), \
             (2, 'bob@example.com', NULL, 1.00, NULL, NULL, 'bobby', 'B2', 'q', NULL, 7, 'Bob', '1990-01-01', 'tin')"
        ),
        &format!("CREATE TABLE {schema}.visits (ref text, email text, page text)"),
        &format!(
            "INSERT INTO {schema}.visits VALUES ('v1', 'alice@example.com', '/a'), ('v2', 'bob@example.com', '/b')"
        ),
    ]);
    let pb = playbook(
        "postgres",
        &format!("    url: ${{env:DSR_TEST_PG_URL}}\n    schema: {schema}\n"),
        &entries(&[
            "token: random",
            "total: hash",
            "doc: redact",
            "photo: random",
            "nick: 'null'",
            "id: hash",
            "code: redact",
            "pad: redact",
            "tags: hash",
            "score: random",
            "name: redact",
            "born: truncate_date",
            "email: hash",
            "label: redact",
        ]),
        &entries(&["ref: redact", "page: redact"]),
    );
    let unfit = [
        Unfit {
            entry: "token: random",
            field: "people.erase.mask.token",
            says: &["(uuid) with random", "not a uuid"],
        },
        Unfit {
            entry: "total: hash",
            field: "people.erase.mask.total",
            says: &["(numeric(10,2)) with hash", "not a number"],
        },
        Unfit {
            entry: "doc: redact",
            field: "people.erase.mask.doc",
            says: &["(jsonb) with redact", "not valid JSON"],
        },
        Unfit {
            entry: "photo: random",
            field: "people.erase.mask.photo",
            says: &["(bytea) with random", "bytes", "hex"],
        },
        Unfit {
            entry: "code: redact",
            field: "people.erase.mask.code",
            says: &["(character varying(5)) with redact", "at most 5"],
        },
        Unfit {
            entry: "pad: redact",
            field: "people.erase.mask.pad",
            says: &["(character(12)) with redact", "pads"],
        },
        Unfit {
            entry: "tags: hash",
            field: "people.erase.mask.tags",
            says: &["(text[]) with hash", "not an array"],
        },
        Unfit {
            entry: "score: random",
            field: "people.erase.mask.score",
            says: &["(integer) with random", "leading zeros"],
        },
    ];
    let all: Vec<Unfit> = unfit.into_iter().chain(COMMON).collect();
    let snapshot = || {
        let mut rows = pg_strings(&format!(
            "SELECT t::text FROM {schema}.people t ORDER BY id"
        ));
        rows.extend(pg_strings(&format!(
            "SELECT t::text FROM {schema}.visits t ORDER BY ref"
        )));
        rows
    };
    let ws = Workspace::new();
    check(&ws, &pb, &all, &snapshot);
    assert_eq!(
        pg_strings(&format!(
            "SELECT concat_ws('|', name, born, label, nick) FROM {schema}.people WHERE id = 1"
        )),
        ["[redacted]|1988-04-01|[redacted]|ally"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

#[test]
fn mariadb_masks_that_cannot_be_written_are_refused_before_any_write() {
    let db = "dsr_it_mask_fit";
    mysql_exec(&[
        &format!("DROP DATABASE IF EXISTS {db}"),
        &format!("CREATE DATABASE {db}"),
        &format!(
            "CREATE TABLE {db}.people (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, token UUID, total DECIMAL(10,2), \
             doc JSON, photo BLOB, nick VARCHAR(20) NOT NULL, code VARCHAR(5), kind ENUM('a', 'b'), score INT, \
             seen DATETIME, name VARCHAR(50), born DATE, label VARCHAR(20))"
        ),
        &format!(
            "INSERT INTO {db}.people VALUES \
             (1, 'alice@example.com', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9.99, '{{\"a\": 1}}', x'0102', 'ally', 'A1', 'a', 42, '2024-02-29 13:45:10', 'Alice', '1988-04-12', 'gold'), \
             (2, 'bob@example.com', NULL, 1.00, NULL, NULL, 'bobby', 'B2', 'b', 7, NULL, 'Bob', '1990-01-01', 'tin')"
        ),
        &format!(
            "CREATE TABLE {db}.visits (ref VARCHAR(20), email VARCHAR(100), page VARCHAR(50))"
        ),
        &format!(
            "INSERT INTO {db}.visits VALUES ('v1', 'alice@example.com', '/a'), ('v2', 'bob@example.com', '/b')"
        ),
    ]);
    let pb = playbook(
        "mariadb",
        &format!("    url: ${{env:DSR_TEST_MYSQL_URL}}\n    schema: {db}\n"),
        &entries(&[
            "token: random",
            "total: hash",
            "doc: redact",
            "photo: random",
            "nick: 'null'",
            "id: hash",
            "code: redact",
            "kind: redact",
            "score: random",
            "seen: hash",
            "name: redact",
            "born: truncate_date",
            "email: hash",
            "label: redact",
        ]),
        &entries(&["ref: redact", "page: redact"]),
    );
    let unfit = [
        Unfit {
            entry: "token: random",
            field: "people.erase.mask.token",
            says: &["(uuid) with random", "not a uuid"],
        },
        Unfit {
            entry: "total: hash",
            field: "people.erase.mask.total",
            says: &["(decimal(10,2)) with hash", "not a number"],
        },
        Unfit {
            entry: "doc: redact",
            field: "people.erase.mask.doc",
            says: &["(json) with redact", "not valid JSON"],
        },
        Unfit {
            entry: "photo: random",
            field: "people.erase.mask.photo",
            says: &["(blob) with random", "bytes", "hex"],
        },
        Unfit {
            entry: "code: redact",
            field: "people.erase.mask.code",
            says: &["(varchar(5)) with redact", "at most 5"],
        },
        Unfit {
            entry: "kind: redact",
            field: "people.erase.mask.kind",
            says: &["(enum('a','b')) with redact", "labels"],
        },
        Unfit {
            entry: "score: random",
            field: "people.erase.mask.score",
            says: &["(int(11)) with random", "leading zeros"],
        },
        Unfit {
            entry: "seen: hash",
            field: "people.erase.mask.seen",
            says: &["(datetime) with hash", "not a date"],
        },
    ];
    let all: Vec<Unfit> = unfit.into_iter().chain(COMMON).collect();
    let snapshot = || {
        let mut rows = mysql_strings(&format!(
            "SELECT CAST(CONCAT_WS('|', id, email, token, total, doc, HEX(photo), nick, code, kind, score, seen, name, born, label) AS CHAR) \
             FROM {db}.people ORDER BY id"
        ));
        rows.extend(mysql_strings(&format!(
            "SELECT CAST(CONCAT_WS('|', ref, email, page) AS CHAR) FROM {db}.visits ORDER BY ref"
        )));
        rows
    };
    let ws = Workspace::new();
    check(&ws, &pb, &all, &snapshot);
    assert_eq!(
        mysql_strings(&format!(
            "SELECT CAST(CONCAT_WS('|', name, born, label, nick) AS CHAR) FROM {db}.people WHERE id = 1"
        )),
        ["[redacted]|1988-04-01|[redacted]|ally"]
    );
    mysql_exec(&[&format!("DROP DATABASE {db}")]);
}

fn sqlite_strings(db: &std::path::Path, query: &str) -> Vec<String> {
    crate::support::runtime().block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(query)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        pool.close().await;
        rows
    })
}

fn sqlite_exec(db: &std::path::Path, sql: &str) {
    crate::support::runtime().block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    })
}

/// SQLite stores any value in a column of a table that is not STRICT (so `redact` on an
/// INTEGER column works), but turns text that looks like a number into one; STRICT tables
/// check types like the other databases.
#[test]
fn sqlite_masks_that_cannot_be_written_are_refused_before_any_write() {
    let ws = Workspace::new();
    let db = ws.path().join("app.db");
    sqlite_exec(
        &db,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL, nick TEXT NOT NULL, age INTEGER, \
         weight REAL, level INTEGER, name TEXT, born DATE, misc);\n\
         INSERT INTO people VALUES (1, 'alice@example.com', 'ally', 42, 61.5, 3, 'Alice', '1988-04-12', x'01'), \
         (2, 'bob@example.com', 'bobby', 50, 80.0, 1, 'Bob', '1990-01-01', NULL);\n\
         CREATE TABLE tight (id INTEGER PRIMARY KEY, email TEXT, score INT, weight REAL, photo BLOB, name TEXT, anything ANY) STRICT;\n\
         INSERT INTO tight VALUES (1, 'alice@example.com', 9, 1.5, x'0102', 'Alice', 5), (2, 'bob@example.com', 8, 2.5, NULL, 'Bob', 6);\n\
         CREATE TABLE visits (ref TEXT, email TEXT, page TEXT);\n\
         INSERT INTO visits VALUES ('v1', 'alice@example.com', '/a'), ('v2', 'bob@example.com', '/b');\n",
    );
    let mut pb = playbook(
        "sqlite",
        "    path: app.db\n",
        &entries(&[
            "nick: 'null'",
            "id: hash",
            "age: random",
            "weight: random",
            "level: redact",
            "name: redact",
            "born: truncate_date",
            "email: hash",
            "misc: redact",
        ]),
        &entries(&["ref: redact", "page: redact"]),
    );
    pb +=
        "      tight:\n        match: { email: identity.email }\n        erase:\n          mask:\n";
    pb += &entries(&[
        "score: redact",
        "weight: hash",
        "photo: random",
        "name: redact",
        "anything: hash",
    ]);
    let unfit = [
        Unfit {
            entry: "age: random",
            field: "people.erase.mask.age",
            says: &["(INTEGER) with random", "leading zeros"],
        },
        Unfit {
            entry: "weight: random",
            field: "people.erase.mask.weight",
            says: &["(REAL) with random", "leading zeros"],
        },
        Unfit {
            entry: "score: redact",
            field: "tight.erase.mask.score",
            says: &["(INT) with redact", "not a number"],
        },
        Unfit {
            entry: "weight: hash",
            field: "tight.erase.mask.weight",
            says: &["(REAL) with hash", "not a number"],
        },
        Unfit {
            entry: "photo: random",
            field: "tight.erase.mask.photo",
            says: &["(BLOB) with random", "bytes"],
        },
    ];
    let all: Vec<Unfit> = unfit.into_iter().chain(COMMON).collect();
    let snapshot = || {
        let mut rows = Vec::new();
        for (table, columns) in [
            ("people", "id email nick age weight level name born misc"),
            ("tight", "id email score weight photo name anything"),
            ("visits", "ref email page"),
        ] {
            // quote() shows each value with its storage class: 42 and '42' differ.
            let values: Vec<String> = columns.split(' ').map(|c| format!("quote({c})")).collect();
            rows.extend(sqlite_strings(
                &db,
                &format!(
                    "SELECT '{table}:' || {} FROM {table} ORDER BY 1",
                    values.join(" || '|' || ")
                ),
            ));
        }
        rows
    };
    check(&ws, &pb, &all, &snapshot);
    assert_eq!(
        sqlite_strings(
            &db,
            "SELECT name || '|' || born || '|' || level || '|' || nick || '|' || typeof(misc) FROM people WHERE id = 1"
        ),
        ["[redacted]|1988-04-01|[redacted]|ally|text"]
    );
    assert_eq!(
        sqlite_strings(&db, "SELECT name FROM tight WHERE id = 1"),
        ["[redacted]"]
    );
}
