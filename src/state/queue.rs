//! The queue of requests that are due later: `dsr requests add … --not-before DATE` puts one
//! here, `dsr run-due` claims what is due. A claim is one atomic UPDATE with a lease, so two
//! overlapping `run-due` processes never take the same request, and a request whose worker
//! died is taken over once its lease runs out. The stored identities are deleted as soon as
//! the request has run.

use super::{State, StateError};
use crate::plan::Action;
use crate::state::journal::RequestArgs;
use jiff::{SignedDuration, Timestamp};

/// A queued request as listed (no identities).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Queued {
    pub id: String,
    pub action: String,
    pub subject: String,
    pub not_before: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// id, action, subject, not_before, status, attempts, last_error
type QueueRow = (String, String, String, String, String, i64, Option<String>);

/// A claimed request, with what it needs to run.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub action: Action,
    pub args: RequestArgs,
    /// When the person's request was received, if given.
    pub received: Option<String>,
}

/// What the queue keeps of a request: its arguments, `received` among them.
type Stored = RequestArgs;

/// How long a claim holds unless renewed; a worker renews its claims every third of it
/// while it runs them, so only a dead (or cut-off) worker's claims run out.
pub const DEFAULT_LEASE: SignedDuration = SignedDuration::from_mins(5);
/// When a failed request is tried again.
pub const RETRY_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// After this many attempts a request stays `failed` until someone looks at it.
pub const MAX_ATTEMPTS: i64 = 5;

/// Queue times as stored: RFC 3339 UTC in whole seconds, so that they compare as text.
fn stamp(t: Timestamp) -> String {
    format!("{t:.0}")
}

/// A request is claimable when it is queued and due, or claimed by a worker whose lease ran
/// out. `$4` is now.
const CLAIMABLE: &str =
    "((status = 'queued' AND not_before <= $4) OR (status = 'claimed' AND lease_until < $4))";

impl State {
    /// The time leases are measured by: on a shared ledger the database server's clock, so
    /// that workers whose clocks disagree still agree on when a lease runs out; otherwise this
    /// machine's.
    pub async fn clock(&self) -> Result<Timestamp, StateError> {
        let super::Pool::Postgres(p) = &self.pool else {
            return Ok(Timestamp::now());
        };
        let text: String = sqlx::query_scalar(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
        )
        .fetch_one(p)
        .await?;
        Ok(text.parse().unwrap_or_else(|_| Timestamp::now()))
    }

    pub async fn queue_add(
        &self,
        id: &str,
        action: &str,
        subject: &str,
        args: &RequestArgs,
        received: Option<&str>,
        not_before: Timestamp,
    ) -> Result<(), StateError> {
        let now = stamp(Timestamp::now());
        let stored = serde_json::to_string(&Stored {
            received: received.map(str::to_string),
            ..args.clone()
        })
        .unwrap_or_default();
        on_pool!(&self.pool, p => sqlx::query("INSERT INTO queue (id, action, subject, request, not_before, status, created, updated) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7)")
            .bind(id)
            .bind(action)
            .bind(subject)
            .bind(&stored)
            .bind(stamp(not_before))
            .bind(&now)
            .bind(&now)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Claims the next due request for `worker` for `lease`, or `None` when nothing is due.
    ///
    /// One UPDATE picks and claims the row. On PostgreSQL the pick locks the row with `FOR
    /// UPDATE SKIP LOCKED`, so concurrent claimers on other machines each take a different
    /// request without waiting on one another, and the claim condition is checked again on the
    /// locked row; SQLite runs writers one at a time.
    pub async fn queue_claim(
        &self,
        worker: &str,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<Option<Claimed>, StateError> {
        let lock = match self.pool {
            super::Pool::Sqlite(_) => "",
            super::Pool::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE queue SET status = 'claimed', claimed_by = $1, lease_until = $2, attempts = attempts + 1, updated = $3 \
             WHERE id = (SELECT id FROM queue WHERE {CLAIMABLE} ORDER BY not_before, id LIMIT 1 {lock}) AND {CLAIMABLE} \
             RETURNING id, action, request"
        );
        let now_text = stamp(now);
        loop {
            let row: Option<(String, String, Option<String>)> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(worker)
            .bind(stamp(now + lease))
            .bind(&now_text)
            .bind(&now_text)
            .fetch_optional(p)
            .await)?;
            let Some((id, action, request)) = row else {
                return Ok(None);
            };
            let stored = request.as_deref().map(serde_json::from_str::<Stored>);
            match (stored, action.parse::<Action>()) {
                (Some(Ok(stored)), Ok(action)) => {
                    return Ok(Some(Claimed {
                        id,
                        action,
                        received: stored.received.clone(),
                        args: stored,
                    }));
                }
                // A request that cannot be read (or asks for an action this dsr does not know)
                // can never run: it fails for good (and its unreadable data goes) instead of
                // being claimed again at every lease's end.
                _ => {
                    self.update_claim(
                        "UPDATE queue SET status = 'failed', request = NULL, lease_until = NULL, last_error = $4, updated = $3 \
                         WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'",
                        &id,
                        worker,
                        &[&now_text, "the queued request cannot be read; add it again"],
                    )
                    .await?;
                }
            }
        }
    }

    /// Extends `worker`'s claim on a request by `lease` from now. False when the claim is no
    /// longer the worker's (its lease ran out and another worker took the request over).
    pub async fn queue_renew(
        &self,
        id: &str,
        worker: &str,
        lease: SignedDuration,
    ) -> Result<bool, StateError> {
        let now = self.clock().await?;
        self.update_claim(
            "UPDATE queue SET lease_until = $4, updated = $3 WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'",
            id,
            worker,
            &[&stamp(now), &stamp(now + lease)],
        )
        .await
    }

    /// Hands a claimed request back unfinished (a worker stopping): it is due again at once
    /// for any worker, which resumes it from the journal; the attempt does not count.
    pub async fn queue_release(&self, id: &str, worker: &str) -> Result<bool, StateError> {
        self.update_claim(
            "UPDATE queue SET status = 'queued', claimed_by = NULL, lease_until = NULL, attempts = attempts - 1, updated = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'",
            id,
            worker,
            &[&stamp(self.clock().await?)],
        )
        .await
    }

    /// Records how a claimed request went: done (its identities are deleted) or failed (tried
    /// again later, up to [`MAX_ATTEMPTS`]). False when the claim was no longer `worker`'s,
    /// and nothing was recorded.
    pub async fn queue_finish(
        &self,
        id: &str,
        worker: &str,
        done: bool,
        error: Option<&str>,
    ) -> Result<bool, StateError> {
        let now = self.clock().await?;
        if done {
            return self.update_claim(
                "UPDATE queue SET status = 'done', request = NULL, lease_until = NULL, last_error = NULL, updated = $3 \
                 WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'",
                id,
                worker,
                &[&stamp(now)],
            )
            .await;
        }
        let error = error.unwrap_or("did not finish");
        self.update_claim(
            &format!(
                "UPDATE queue SET status = CASE WHEN attempts >= {MAX_ATTEMPTS} THEN 'failed' ELSE 'queued' END, not_before = $4, \
                 lease_until = NULL, last_error = $5, updated = $3 WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'"
            ),
            id,
            worker,
            &[&stamp(now), &stamp(now + RETRY_AFTER), error],
        )
        .await
    }

    /// Runs an UPDATE of the request `id` (`$1`) while `worker` (`$2`) holds its claim, with
    /// `more` text values as `$3`…; false when the claim is not the worker's.
    async fn update_claim(
        &self,
        sql: &str,
        id: &str,
        worker: &str,
        more: &[&str],
    ) -> Result<bool, StateError> {
        let changed = on_pool!(&self.pool, p => {
            let mut q = sqlx::query(sql).bind(id).bind(worker);
            for value in more {
                q = q.bind(*value);
            }
            q.execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    pub async fn queue_list(&self) -> Result<Vec<Queued>, StateError> {
        let rows: Vec<QueueRow> = on_pool!(&self.pool, p => sqlx::query_as("SELECT id, action, subject, not_before, status, attempts, last_error FROM queue ORDER BY not_before, id")
                .fetch_all(p)
                .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, action, subject, not_before, status, attempts, last_error)| Queued {
                    id,
                    action,
                    subject,
                    not_before,
                    status,
                    attempts,
                    last_error,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Pool;
    use crate::state::testing::{drop_schema, on_both, pg_ledger};
    use std::collections::{BTreeMap, BTreeSet};

    fn args() -> RequestArgs {
        RequestArgs {
            identities: BTreeMap::from([("email".to_string(), vec!["a@example.com".to_string()])]),
            sets: vec![],
            received: None,
            out: None,
        }
    }

    async fn stored_request(s: &State, id: &str) -> Option<String> {
        on_pool!(&s.pool, p => sqlx::query_scalar("SELECT request FROM queue WHERE id = $1")
            .bind(id)
            .fetch_one(p)
            .await)
        .unwrap()
    }

    #[tokio::test]
    async fn an_unreadable_request_fails_for_good_and_the_next_is_claimed() {
        on_both("queue_bad", |s| async move {
            let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
            let lease = SignedDuration::from_mins(5);
            for id in ["r1", "r2"] {
                s.queue_add(id, "erase", "h", &args(), None, "2026-11-30T00:00:00Z".parse().unwrap())
                    .await
                    .unwrap();
            }
            on_pool!(&s.pool, p => sqlx::query("UPDATE queue SET request = 'not json' WHERE id = 'r1'")
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
            .unwrap();
            let claimed = s.queue_claim("w1", now, lease).await.unwrap().unwrap();
            assert_eq!(claimed.id, "r2");
            let r1 = s.queue_list().await.unwrap().into_iter().find(|q| q.id == "r1").unwrap();
            assert_eq!(r1.status, "failed");
            assert!(r1.last_error.unwrap().contains("cannot be read"));
            assert_eq!(stored_request(&s, "r1").await, None);
            let later = now + lease + SignedDuration::from_secs(1);
            assert!(
                s.queue_claim("w2", later, lease).await.unwrap().unwrap().id == "r2",
                "r1 is never claimed again"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn claims_only_what_is_due_and_each_once() {
        on_both("queue", |s| async move {
            let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
            let lease = SignedDuration::from_mins(5);
            for (id, when) in [
                ("r1", "2026-11-30T00:00:00Z"),
                ("r2", "2026-12-22T00:00:00Z"),
            ] {
                s.queue_add(id, "erase", "h", &args(), None, when.parse().unwrap())
                    .await
                    .unwrap();
            }
            let first = s.queue_claim("w1", now, lease).await.unwrap().unwrap();
            assert_eq!(first.id, "r1");
            assert_eq!(first.args, args());
            assert!(
                s.queue_claim("w2", now, lease).await.unwrap().is_none(),
                "r1 is claimed, r2 not due"
            );
            // Within the lease the claim holds; a dead worker's claim is taken over after it.
            let almost = now + lease - SignedDuration::from_secs(1);
            assert!(s.queue_claim("w2", almost, lease).await.unwrap().is_none());
            let later = now + lease + SignedDuration::from_secs(1);
            assert_eq!(
                s.queue_claim("w2", later, lease).await.unwrap().unwrap().id,
                "r1"
            );
            // The first worker no longer holds it: it can neither renew nor finish it.
            assert!(!s.queue_renew("r1", "w1", lease).await.unwrap());
            assert!(!s.queue_finish("r1", "w1", true, None).await.unwrap());
            assert!(s.queue_renew("r1", "w2", lease).await.unwrap());
            assert!(s.queue_finish("r1", "w2", true, None).await.unwrap());
            let listed = s.queue_list().await.unwrap();
            assert_eq!(listed[0].status, "done");
            assert_eq!(listed[0].attempts, 2);
            assert_eq!(
                stored_request(&s, "r1").await,
                None,
                "identities are deleted once done"
            );
            assert!(stored_request(&s, "r2").await.is_some());
        })
        .await;
    }

    #[tokio::test]
    async fn a_renewed_claim_holds_and_a_released_one_is_due_again() {
        on_both("renew", |s| async move {
            // Leases are measured by the ledger's clock (here, the same machine's).
            let skew = s.clock().await.unwrap().duration_since(Timestamp::now());
            assert!(skew.abs() < SignedDuration::from_secs(5), "{skew:?}");
            let lease = SignedDuration::from_secs(30);
            s.queue_add("r1", "erase", "h", &args(), None, Timestamp::now())
                .await
                .unwrap();
            let now = Timestamp::now();
            assert!(s.queue_claim("w1", now, lease).await.unwrap().is_some());
            // Renewed from the present, the lease outlasts the first one.
            assert!(
                s.queue_renew("r1", "w1", SignedDuration::from_hours(1))
                    .await
                    .unwrap()
            );
            let after_first = now + lease + SignedDuration::from_secs(1);
            assert!(
                s.queue_claim("w2", after_first, lease)
                    .await
                    .unwrap()
                    .is_none()
            );
            // Handed back: due at once for another worker, and the attempt does not count.
            assert!(!s.queue_release("r1", "w2").await.unwrap());
            assert!(s.queue_release("r1", "w1").await.unwrap());
            let taken = s
                .queue_claim("w2", Timestamp::now(), lease)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(taken.id, "r1");
            assert_eq!(s.queue_list().await.unwrap()[0].attempts, 1);
            // A failure queues it again later.
            assert!(
                s.queue_finish("r1", "w2", false, Some("boom"))
                    .await
                    .unwrap()
            );
            let row = &s.queue_list().await.unwrap()[0];
            assert_eq!(
                (row.status.as_str(), row.last_error.as_deref()),
                ("queued", Some("boom"))
            );
            assert!(
                s.queue_claim("w3", Timestamp::now(), lease)
                    .await
                    .unwrap()
                    .is_none()
            );
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claimers_on_the_shared_ledger_never_take_the_same_request() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = pg_ledger("claims");
        let s = State::open_postgres(dir.path(), &ledger).await.unwrap();
        assert!(matches!(s.pool, Pool::Postgres(_)));
        let due = Timestamp::now() - SignedDuration::from_secs(60);
        let mut queued = BTreeSet::new();
        for i in 0..200 {
            let id = format!("r{i:03}");
            s.queue_add(&id, "erase", "h", &args(), None, due)
                .await
                .unwrap();
            queued.insert(id);
        }
        // Eight claimers, each with a pool of its own as a separate worker would have; their
        // claims interleave on the server.
        let claimers = (0..8).map(|w| {
            let ledger = ledger.clone();
            let dir = dir.path().to_path_buf();
            async move {
                let s = State::open_postgres(&dir, &ledger).await.unwrap();
                let worker = format!("w{w}");
                let mut got = Vec::new();
                while let Some(c) = s
                    .queue_claim(&worker, Timestamp::now(), SignedDuration::from_mins(5))
                    .await
                    .unwrap()
                {
                    assert!(s.queue_finish(&c.id, &worker, true, None).await.unwrap());
                    got.push(c.id);
                }
                got
            }
        });
        let mut all = Vec::new();
        let mut busy = 0;
        for got in futures::future::join_all(claimers).await {
            busy += usize::from(!got.is_empty());
            all.extend(got);
        }
        let unique: BTreeSet<String> = all.iter().cloned().collect();
        assert_eq!(all.len(), unique.len(), "a request was claimed twice");
        assert_eq!(unique, queued);
        assert!(busy > 1, "the claims were spread over several claimers");
        drop_schema(&s, &ledger).await;
    }
}
