//! The request ledger: one row per request in the state database, written when the request
//! is received and updated when it completes, so `dsr requests list` shows what is open, what
//! is due when, and what was late.
//!
//! Times are stored as RFC 3339; `due_utc` is UTC so rows sort and compare as text.

use super::{State, StateError};
use serde::Serialize;
use std::collections::BTreeMap;

/// `status` while a request runs; on completion it becomes the report's outcome.
pub const IN_PROGRESS: &str = "in_progress";
/// `status` of a request queued with `dsr requests add` that has not started yet.
pub const QUEUED: &str = "queued";
/// `status` of a request closed by hand (`dsr requests close`).
pub const CLOSED: &str = "closed";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub action: String,
    pub subject_hash: String,
    pub regulation: String,
    /// RFC 3339 in the offset it was received in.
    pub received: String,
    /// RFC 3339 in the received offset.
    pub due: String,
    pub due_utc: String,
    pub extension_reason: Option<String>,
    /// When the extension was decided (RFC 3339 UTC).
    pub extension_decided: Option<String>,
    pub status: String,
    pub completed: Option<String>,
    pub deadline_met: Option<bool>,
    /// system -> outcome (`done`, `partial`, `failed`, `skipped`, `waiting`).
    pub outcomes: BTreeMap<String, String>,
    pub report_path: Option<String>,
    /// The process running the request, as `HOST:PID` ([`runner`]), while it runs.
    #[serde(skip)]
    pub runner: Option<String>,
    /// Why the request was closed by hand.
    pub closed_reason: Option<String>,
}

type Tuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<bool>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str = "id, action, subject_hash, regulation, received, due, due_utc, \
    extension_reason, extension_decided, status, completed, deadline_met, outcomes, report_path, \
    runner, closed_reason";

fn from_tuple(t: Tuple) -> Row {
    Row {
        id: t.0,
        action: t.1,
        subject_hash: t.2,
        regulation: t.3,
        received: t.4,
        due: t.5,
        due_utc: t.6,
        extension_reason: t.7,
        extension_decided: t.8,
        status: t.9,
        completed: t.10,
        deadline_met: t.11,
        outcomes: serde_json::from_str(&t.12).unwrap_or_default(),
        report_path: t.13,
        runner: t.14,
        closed_reason: t.15,
    }
}

/// This process as a ledger records it: `HOST:PID`. Another process on the same host can tell
/// whether it still lives; see [`Standing::Stale`].
pub fn runner() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            if let Ok(name) = std::str::from_utf8(&buf[..end])
                && !name.is_empty()
            {
                return name.to_string();
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}

/// Whether the process `HOST:PID` may still be running: on this host, whether the pid exists;
/// on another host dsr cannot look, so it assumes it does.
fn runner_alive(runner: &str) -> bool {
    let Some((host, pid)) = runner.rsplit_once(':') else {
        return false;
    };
    if host != host_name() {
        return true;
    }
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if pid as u32 == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Where a request stands: one closed set, derived from what the ledger, the queue and the
/// journal record (see [`State::ledger_entries`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Queued with `dsr requests add`, not started yet (or queued again after an attempt).
    Queued,
    /// A live process is running it (a worker holding its lease, or a process on this host).
    Running,
    /// It was started but nothing runs it any more: the worker's lease ran out, or the process
    /// recorded as running it is gone (killed). `dsr resume` continues it.
    Stale,
    /// A manual step waits for a person (`dsr requests confirm`, then `dsr resume`).
    Waiting,
    /// Some systems finished, others failed; `dsr resume` retries the rest.
    Partial,
    /// It failed (or the queue gave up on it); `dsr resume` retries.
    Failed,
    /// Answered.
    Done,
    /// Closed by hand with a reason (`dsr requests close`).
    Closed,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Queued => "queued",
            Standing::Running => "running",
            Standing::Stale => "stale",
            Standing::Waiting => "waiting",
            Standing::Partial => "partial",
            Standing::Failed => "failed",
            Standing::Done => "done",
            Standing::Closed => "closed",
        }
    }

    /// Whether someone still owes the person an answer.
    pub fn is_open(self) -> bool {
        !matches!(self, Standing::Done | Standing::Closed)
    }
}

/// One request as the ledger shows it, whichever table knows it: a ledger row, a queue entry
/// (queued by an older dsr, before the ledger held queued requests) or a journal entry (an
/// erase stopped before its writes began, when it enters the ledger).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub action: String,
    pub subject_hash: String,
    pub status: Standing,
    pub open: bool,
    pub regulation: Option<String>,
    pub received: Option<String>,
    pub due: Option<String>,
    #[serde(skip)]
    pub due_utc: Option<String>,
    pub extension_reason: Option<String>,
    pub extension_decided: Option<String>,
    pub completed: Option<String>,
    pub deadline_met: Option<bool>,
    pub outcomes: BTreeMap<String, String>,
    pub report_path: Option<String>,
    pub closed_reason: Option<String>,
    /// For queued requests: when they may run, how often they were tried, the last error.
    pub not_before: Option<String>,
    pub attempts: Option<i64>,
    pub last_error: Option<String>,
}

/// What the queue records about a request.
struct QueueFacts {
    action: String,
    subject: String,
    not_before: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    lease_until: Option<String>,
}

/// What the journal records about a request.
struct JournalFacts {
    action: String,
    subject: String,
    status: String,
    runner: Option<String>,
}

/// The standing of a request from its ledger status, queue entry and journal entry, at `now`
/// (the lease clock).
fn standing(
    row: Option<&Row>,
    queue: Option<&QueueFacts>,
    journal: Option<&JournalFacts>,
    now: &str,
) -> Standing {
    match row.map(|r| r.status.as_str()) {
        Some(CLOSED) => return Standing::Closed,
        Some("done" | "skipped") => return Standing::Done,
        Some("waiting") => return Standing::Waiting,
        Some("partial") => return Standing::Partial,
        Some("failed") => return Standing::Failed,
        _ => {}
    }
    // Started or queued: the queue's claim says whether a worker holds it; otherwise the
    // process recorded as running it.
    if let Some(q) = queue {
        match q.status.as_str() {
            "queued" => return Standing::Queued,
            "failed" => return Standing::Failed,
            CLOSED => return Standing::Closed,
            "claimed" => {
                return if q.lease_until.as_deref().is_some_and(|l| l >= now) {
                    Standing::Running
                } else {
                    Standing::Stale
                };
            }
            _ => {}
        }
    }
    if row.is_none()
        && let Some(j) = journal
    {
        match j.status.as_str() {
            "done" => return Standing::Done,
            "running" => {}
            _ => return Standing::Closed,
        }
    }
    if row.is_some_and(|r| r.status == QUEUED) {
        return Standing::Queued;
    }
    let runner = row
        .and_then(|r| r.runner.as_deref())
        .or_else(|| journal.and_then(|j| j.runner.as_deref()));
    match runner {
        Some(r) if runner_alive(r) => Standing::Running,
        _ => Standing::Stale,
    }
}

impl State {
    /// Records a request as received: in progress, or queued for later.
    pub async fn ledger_insert(&self, row: &Row) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(&format!(
            "INSERT INTO requests ({COLUMNS}, created) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"
        ))
        .bind(&row.id)
        .bind(&row.action)
        .bind(&row.subject_hash)
        .bind(&row.regulation)
        .bind(&row.received)
        .bind(&row.due)
        .bind(&row.due_utc)
        .bind(&row.extension_reason)
        .bind(&row.extension_decided)
        .bind(&row.status)
        .bind(&row.completed)
        .bind(row.deadline_met)
        .bind(serde_json::to_string(&row.outcomes).unwrap_or_else(|_| "{}".into()))
        .bind(&row.report_path)
        .bind(&row.runner)
        .bind(&row.closed_reason)
        .bind(crate::timestamp::now())
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Marks a request as running in this process again (started from the queue, or resumed).
    pub async fn ledger_started(&self, id: &str) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(&format!(
            "UPDATE requests SET status = '{IN_PROGRESS}', runner = $1 WHERE id = $2 AND status <> '{CLOSED}'"
        ))
        .bind(runner())
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records how a request ended.
    pub async fn ledger_complete(
        &self,
        id: &str,
        status: &str,
        completed: &str,
        deadline_met: bool,
        outcomes: &BTreeMap<String, String>,
        report_path: &str,
    ) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(
            "UPDATE requests SET status = $1, completed = $2, deadline_met = $3, outcomes = $4, \
             report_path = $5, runner = NULL WHERE id = $6",
        )
        .bind(status)
        .bind(completed)
        .bind(deadline_met)
        .bind(serde_json::to_string(outcomes).unwrap_or_else(|_| "{}".into()))
        .bind(report_path)
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records that a request failed where no report could say so (its report could not be
    /// written): it is not left in progress.
    pub async fn ledger_fail(&self, id: &str) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(
            "UPDATE requests SET status = 'failed', completed = $1 WHERE id = $2",
        )
        .bind(crate::timestamp::now())
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Closes an open request by hand: the ledger says `closed` with the reason, the queue
    /// never runs it, and whatever personal data its queue entry and journal held is deleted.
    /// `deadline_met` says whether it was closed in time.
    pub async fn ledger_close(
        &self,
        id: &str,
        reason: &str,
        completed: &str,
        deadline_met: Option<bool>,
    ) -> Result<(), StateError> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&format!(
                "UPDATE requests SET status = '{CLOSED}', closed_reason = $1, completed = $2, \
                 deadline_met = $3, runner = NULL WHERE id = $4"
            ))
            .bind(reason)
            .bind(completed)
            .bind(deadline_met)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "UPDATE queue SET status = '{CLOSED}', request = NULL, lease_until = NULL, updated = $1 WHERE id = $2"
            ))
            .bind(completed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        if self.journal_get(id).await?.is_some() {
            self.journal_finish(id, super::status::JournalStatus::Closed)
                .await?;
        }
        Ok(())
    }

    /// The ledger rows as stored.
    pub async fn ledger_list(&self) -> Result<Vec<Row>, StateError> {
        let rows: Vec<Tuple> = on_pool!(&self.pool, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM requests ORDER BY id"
        ))
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(from_tuple).collect())
    }

    pub async fn ledger_get(&self, id: &str) -> Result<Option<Row>, StateError> {
        let row: Option<Tuple> = on_pool!(&self.pool, p => sqlx::query_as(&format!("SELECT {COLUMNS} FROM requests WHERE id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await)?;
        Ok(row.map(from_tuple))
    }

    /// Every request the ledger, the queue or the journal knows, with its standing: open ones
    /// first, soonest due first (those without a deadline after them), then finished ones,
    /// newest first.
    pub async fn ledger_entries(&self) -> Result<Vec<Entry>, StateError> {
        type QueueTuple = (
            String,
            String,
            String,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
        );
        let queue: Vec<QueueTuple> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, action, subject, not_before, status, attempts, last_error, lease_until FROM queue",
        )
        .fetch_all(p)
        .await)?;
        let mut queue: BTreeMap<String, QueueFacts> = queue
            .into_iter()
            .map(|q| {
                (
                    q.0,
                    QueueFacts {
                        action: q.1,
                        subject: q.2,
                        not_before: q.3,
                        status: q.4,
                        attempts: q.5,
                        last_error: q.6,
                        lease_until: q.7,
                    },
                )
            })
            .collect();
        type JournalTuple = (String, String, String, String, Option<String>);
        let journal: Vec<JournalTuple> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, action, subject, status, runner FROM journal_requests",
        )
        .fetch_all(p)
        .await)?;
        let mut journal: BTreeMap<String, JournalFacts> = journal
            .into_iter()
            .map(|j| {
                (
                    j.0,
                    JournalFacts {
                        action: j.1,
                        subject: j.2,
                        status: j.3,
                        runner: j.4,
                    },
                )
            })
            .collect();
        // Leases are measured by the ledger's clock, as workers measure them.
        let now = format!("{:.0}", self.clock().await?);
        let mut out = Vec::new();
        for row in self.ledger_list().await? {
            let q = queue.remove(&row.id);
            let j = journal.remove(&row.id);
            let status = standing(Some(&row), q.as_ref(), j.as_ref(), &now);
            out.push(Entry {
                status,
                open: status.is_open(),
                regulation: Some(row.regulation),
                received: Some(row.received),
                due: Some(row.due),
                due_utc: Some(row.due_utc),
                extension_reason: row.extension_reason,
                extension_decided: row.extension_decided,
                completed: row.completed,
                deadline_met: row.deadline_met,
                outcomes: row.outcomes,
                report_path: row.report_path,
                closed_reason: row.closed_reason,
                not_before: q.as_ref().map(|q| q.not_before.clone()),
                attempts: q.as_ref().map(|q| q.attempts),
                last_error: q.and_then(|q| q.last_error),
                id: row.id,
                action: row.action,
                subject_hash: row.subject_hash,
            });
        }
        let bare = |id: String, action: String, subject: String, status: Standing| Entry {
            id,
            action,
            subject_hash: subject,
            status,
            open: status.is_open(),
            regulation: None,
            received: None,
            due: None,
            due_utc: None,
            extension_reason: None,
            extension_decided: None,
            completed: None,
            deadline_met: None,
            outcomes: BTreeMap::new(),
            report_path: None,
            closed_reason: None,
            not_before: None,
            attempts: None,
            last_error: None,
        };
        for (id, q) in queue {
            let j = journal.remove(&id);
            let status = standing(None, Some(&q), j.as_ref(), &now);
            out.push(Entry {
                not_before: Some(q.not_before),
                attempts: Some(q.attempts),
                last_error: q.last_error,
                ..bare(id, q.action, q.subject, status)
            });
        }
        for (id, j) in journal {
            let status = standing(None, None, Some(&j), &now);
            out.push(bare(id, j.action.clone(), j.subject.clone(), status));
        }
        out.sort_by(|a, b| {
            b.open.cmp(&a.open).then_with(|| {
                if a.open {
                    // Soonest due first; requests without a deadline after those with one.
                    (a.due_utc.is_none(), &a.due_utc, &a.id).cmp(&(
                        b.due_utc.is_none(),
                        &b.due_utc,
                        &b.id,
                    ))
                } else {
                    (&b.completed, &b.id).cmp(&(&a.completed, &a.id))
                }
            })
        });
        Ok(out)
    }

    /// One request as [`State::ledger_entries`] shows it.
    pub async fn ledger_entry(&self, id: &str) -> Result<Option<Entry>, StateError> {
        Ok(self
            .ledger_entries()
            .await?
            .into_iter()
            .find(|e| e.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, due_utc: &str) -> Row {
        Row {
            id: id.into(),
            action: "export".into(),
            subject_hash: "hmac-sha256:ab".into(),
            regulation: "gdpr".into(),
            received: "2026-01-01T00:00:00+00:00".into(),
            due: due_utc.into(),
            due_utc: due_utc.into(),
            extension_reason: None,
            extension_decided: None,
            status: IN_PROGRESS.into(),
            completed: None,
            deadline_met: None,
            outcomes: BTreeMap::new(),
            report_path: None,
            runner: Some(runner()),
            closed_reason: None,
        }
    }

    #[tokio::test]
    async fn records_lists_and_completes_requests() {
        crate::state::testing::on_both("ledger", |s| async move {
            s.ledger_insert(&row("b", "2026-03-01T00:00:00Z"))
                .await
                .unwrap();
            s.ledger_insert(&row("a", "2026-02-01T00:00:00Z"))
                .await
                .unwrap();
            s.ledger_insert(&row("c", "2026-01-15T00:00:00Z"))
                .await
                .unwrap();
            let mut outcomes = BTreeMap::new();
            outcomes.insert("shop".to_string(), "done".to_string());
            s.ledger_complete(
                "c",
                "done",
                "2026-01-10T00:00:00Z",
                true,
                &outcomes,
                "/x/report.json",
            )
            .await
            .unwrap();
            let ids: Vec<String> = s
                .ledger_list()
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(ids, ["a", "b", "c"]);
            let c = s.ledger_get("c").await.unwrap().unwrap();
            assert_eq!(c.status, "done");
            assert_eq!(c.deadline_met, Some(true));
            assert_eq!(c.outcomes["shop"], "done");
            assert_eq!(c.report_path.as_deref(), Some("/x/report.json"));
            assert!(s.ledger_get("nope").await.unwrap().is_none());
            // Ids are unique.
            assert!(
                s.ledger_insert(&row("a", "2026-02-01T00:00:00Z"))
                    .await
                    .is_err()
            );
        })
        .await;
    }

    #[tokio::test]
    async fn every_request_has_one_standing_on_both_ledgers() {
        use crate::state::journal::RequestArgs;
        // A pid that is gone: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let host = runner().rsplit_once(':').unwrap().0.to_string();
        crate::state::testing::on_both("standing", move |s| {
            let dead = format!("{host}:{dead_pid}");
            async move {
                let args = RequestArgs::default();
                let at = |r: Row, status: &str, runner: Option<String>| Row {
                    status: status.into(),
                    runner,
                    ..r
                };
                let far: jiff::Timestamp = "2999-01-01T00:00:00Z".parse().unwrap();
                for id in ["queued", "closed"] {
                    s.ledger_insert(&at(row(id, "2026-03-01T00:00:00Z"), QUEUED, None))
                        .await
                        .unwrap();
                    s.queue_add(id, "export", "h", &args, None, far)
                        .await
                        .unwrap();
                }
                s.ledger_insert(&row("running", "2026-02-01T00:00:00Z"))
                    .await
                    .unwrap();
                s.ledger_insert(&at(
                    row("killed", "2026-01-20T00:00:00Z"),
                    IN_PROGRESS,
                    Some(dead),
                ))
                .await
                .unwrap();
                // A worker's claim whose lease ran out long ago.
                s.ledger_insert(&at(
                    row("lapsed", "2026-02-10T00:00:00Z"),
                    IN_PROGRESS,
                    None,
                ))
                .await
                .unwrap();
                s.queue_add(
                    "lapsed",
                    "export",
                    "h",
                    &args,
                    None,
                    "2026-01-01T00:00:00Z".parse().unwrap(),
                )
                .await
                .unwrap();
                let claimed = s
                    .queue_claim(
                        "w",
                        "2026-01-02T00:00:00Z".parse().unwrap(),
                        jiff::SignedDuration::from_mins(5),
                    )
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(claimed.id, "lapsed");
                for (id, status) in [
                    ("waiting", "waiting"),
                    ("done", "done"),
                    ("failed", "failed"),
                ] {
                    s.ledger_insert(&row(id, "2026-01-25T00:00:00Z"))
                        .await
                        .unwrap();
                    s.ledger_complete(
                        id,
                        status,
                        "2026-01-10T00:00:00Z",
                        true,
                        &BTreeMap::new(),
                        "/r",
                    )
                    .await
                    .unwrap();
                }
                s.ledger_close("closed", "withdrawn", "2026-01-11T00:00:00Z", Some(true))
                    .await
                    .unwrap();
                // An erase stopped in its read phase, before it reached the ledger.
                s.journal_create("reading", "erase", "h", "sha", &args)
                    .await
                    .unwrap();
                let entries = s.ledger_entries().await.unwrap();
                let got: Vec<(&str, Standing)> =
                    entries.iter().map(|e| (e.id.as_str(), e.status)).collect();
                assert_eq!(
                    got,
                    [
                        ("killed", Standing::Stale),
                        ("failed", Standing::Failed),
                        ("waiting", Standing::Waiting),
                        ("running", Standing::Running),
                        ("lapsed", Standing::Stale),
                        ("queued", Standing::Queued),
                        ("reading", Standing::Running),
                        ("closed", Standing::Closed),
                        ("done", Standing::Done),
                    ]
                );
                let closed = s.ledger_entry("closed").await.unwrap().unwrap();
                assert_eq!(closed.closed_reason.as_deref(), Some("withdrawn"));
                assert!(!closed.open);
                // A closed request is never claimed.
                let later = far + jiff::SignedDuration::from_hours(1);
                let mut claimed = Vec::new();
                while let Some(c) = s
                    .queue_claim("w2", later, jiff::SignedDuration::from_mins(5))
                    .await
                    .unwrap()
                {
                    claimed.push(c.id);
                }
                assert_eq!(claimed, ["lapsed", "queued"]);
                assert!(s.ledger_entry("nope").await.unwrap().is_none());
            }
        })
        .await;
    }
}
