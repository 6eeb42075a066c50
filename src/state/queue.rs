//! The queue of requests that are due later: `dsr requests add … --not-before DATE` puts one
//! here, `dsr run-due` claims what is due. A claim is one atomic UPDATE with a lease, so two
//! overlapping `run-due` processes never take the same request, and a request whose worker
//! died is taken over once its lease runs out. The stored identities are deleted as soon as
//! the request has run.

use super::{State, StateError};
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
    pub action: String,
    pub args: RequestArgs,
    /// When the person's request was received, if given.
    pub received: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    #[serde(flatten)]
    args: RequestArgs,
    received: Option<String>,
}

/// How long a claim holds before another worker may take the request over.
pub const LEASE: SignedDuration = SignedDuration::from_hours(1);
/// When a failed request is tried again.
pub const RETRY_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// After this many attempts a request stays `failed` until someone looks at it.
pub const MAX_ATTEMPTS: i64 = 5;

impl State {
    pub async fn queue_add(
        &self,
        id: &str,
        action: &str,
        subject: &str,
        args: &RequestArgs,
        received: Option<&str>,
        not_before: Timestamp,
    ) -> Result<(), StateError> {
        let now = Timestamp::now().to_string();
        let stored = serde_json::to_string(&Stored {
            args: args.clone(),
            received: received.map(str::to_string),
        })
        .unwrap_or_default();
        sqlx::query("INSERT INTO queue (id, action, subject, request, not_before, status, created, updated) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)")
            .bind(id)
            .bind(action)
            .bind(subject)
            .bind(stored)
            .bind(not_before.to_string())
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims the next due request for `worker`, or `None` when nothing is due.
    pub async fn queue_claim(
        &self,
        worker: &str,
        now: Timestamp,
    ) -> Result<Option<Claimed>, StateError> {
        let lease = (now + LEASE).to_string();
        let now_text = now.to_string();
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "UPDATE queue SET status = 'claimed', claimed_by = ?, lease_until = ?, attempts = attempts + 1, updated = ? \
             WHERE id = (SELECT id FROM queue WHERE (status = 'queued' AND not_before <= ?) OR (status = 'claimed' AND lease_until < ?) \
                         ORDER BY not_before, id LIMIT 1) \
             RETURNING id, action, request",
        )
        .bind(worker)
        .bind(&lease)
        .bind(&now_text)
        .bind(&now_text)
        .bind(&now_text)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(id, action, request)| {
            let stored: Stored = serde_json::from_str(request.as_deref()?).ok()?;
            Some(Claimed {
                id,
                action,
                args: stored.args,
                received: stored.received,
            })
        }))
    }

    /// Records how a claimed request went: done (its identities are deleted) or failed (tried
    /// again later, up to [`MAX_ATTEMPTS`]).
    pub async fn queue_finish(
        &self,
        id: &str,
        worker: &str,
        done: bool,
        error: Option<&str>,
    ) -> Result<(), StateError> {
        let now = Timestamp::now();
        if done {
            sqlx::query("UPDATE queue SET status = 'done', request = NULL, lease_until = NULL, last_error = NULL, updated = ? WHERE id = ? AND claimed_by = ?")
                .bind(now.to_string())
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query(
                "UPDATE queue SET status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END, not_before = ?, lease_until = NULL, \
                 last_error = ?, updated = ? WHERE id = ? AND claimed_by = ?",
            )
            .bind(MAX_ATTEMPTS)
            .bind((now + RETRY_AFTER).to_string())
            .bind(error)
            .bind(now.to_string())
            .bind(id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    pub async fn queue_list(&self) -> Result<Vec<Queued>, StateError> {
        let rows: Vec<QueueRow> =
            sqlx::query_as("SELECT id, action, subject, not_before, status, attempts, last_error FROM queue ORDER BY not_before, id")
                .fetch_all(&self.pool)
                .await?;
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
    use std::collections::BTreeMap;

    fn args() -> RequestArgs {
        RequestArgs {
            identities: BTreeMap::from([("email".to_string(), vec!["a@example.com".to_string()])]),
            sets: vec![],
        }
    }

    #[tokio::test]
    async fn claims_only_what_is_due_and_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).await.unwrap();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        s.queue_add(
            "r1",
            "erase",
            "h",
            &args(),
            None,
            "2026-11-30T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        s.queue_add(
            "r2",
            "erase",
            "h",
            &args(),
            None,
            "2026-12-22T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        let first = s.queue_claim("w1", now).await.unwrap().unwrap();
        assert_eq!(first.id, "r1");
        assert_eq!(first.args, args());
        assert!(
            s.queue_claim("w2", now).await.unwrap().is_none(),
            "r1 is claimed, r2 not due"
        );
        // A dead worker's claim is taken over after the lease.
        let later = now + LEASE + SignedDuration::from_secs(1);
        assert_eq!(s.queue_claim("w2", later).await.unwrap().unwrap().id, "r1");
        s.queue_finish("r1", "w2", true, None).await.unwrap();
        let listed = s.queue_list().await.unwrap();
        assert_eq!(listed[0].status, "done");
        let stored: Option<String> =
            sqlx::query_scalar("SELECT request FROM queue WHERE id = 'r1'")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        assert_eq!(stored, None, "identities are deleted once done");
    }
}
