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
    pub status: String,
    pub completed: Option<String>,
    pub deadline_met: Option<bool>,
    /// system -> outcome (`done`, `partial`, `failed`, `skipped`).
    pub outcomes: BTreeMap<String, String>,
    pub report_path: Option<String>,
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
    String,
    Option<String>,
    Option<bool>,
    String,
    Option<String>,
);

const COLUMNS: &str = "id, action, subject_hash, regulation, received, due, due_utc, \
    extension_reason, status, completed, deadline_met, outcomes, report_path";

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
        status: t.8,
        completed: t.9,
        deadline_met: t.10,
        outcomes: serde_json::from_str(&t.11).unwrap_or_default(),
        report_path: t.12,
    }
}

impl State {
    /// Records a request as received and in progress.
    pub async fn ledger_insert(&self, row: &Row) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(&format!(
            "INSERT INTO requests ({COLUMNS}, created) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
        ))
        .bind(&row.id)
        .bind(&row.action)
        .bind(&row.subject_hash)
        .bind(&row.regulation)
        .bind(&row.received)
        .bind(&row.due)
        .bind(&row.due_utc)
        .bind(&row.extension_reason)
        .bind(&row.status)
        .bind(&row.completed)
        .bind(row.deadline_met)
        .bind(serde_json::to_string(&row.outcomes).unwrap_or_else(|_| "{}".into()))
        .bind(&row.report_path)
        .bind(crate::timestamp::now())
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
             report_path = $5 WHERE id = $6",
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

    /// Every request, most urgent first: open ones by due date, then finished ones, newest first.
    pub async fn ledger_list(&self) -> Result<Vec<Row>, StateError> {
        let rows: Vec<Tuple> = on_pool!(&self.pool, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM requests \
             ORDER BY (status = '{IN_PROGRESS}') DESC, \
             CASE WHEN status = '{IN_PROGRESS}' THEN due_utc END ASC, created DESC, id DESC"
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
            status: IN_PROGRESS.into(),
            completed: None,
            deadline_met: None,
            outcomes: BTreeMap::new(),
            report_path: None,
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
}
