//! The journal of change requests: every step's outcome, the keys it found and the changes it
//! plans are committed before a dependent step starts, so a killed run resumes where it
//! stopped. Identities, keys and planned changes are personal data: they stay only while the
//! request runs and are cleared when it finishes, leaving outcomes and counts as evidence.

use super::status::{JournalStatus, WriteStatus};
use super::{State, StateError};
use crate::connectors::KeyedChange;
use crate::identity::RequestIdentities;
use crate::playbook::CollectionId;
use crate::run::{Finished, Provided, StepOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a request needs to run again: its identities and its action's arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestArgs {
    pub identities: BTreeMap<String, Vec<String>>,
    /// `--set` assignments of a correction, as TARGET=VALUE.
    #[serde(default)]
    pub sets: Vec<String>,
    /// When the request was received (RFC 3339), so that a resumed run keeps it.
    #[serde(default)]
    pub received: Option<String>,
    /// An export's bundle directory (absolute), so that `dsr resume` finishes the same bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
}

/// The changes one read step planned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StepChanges {
    pub key_columns: Vec<String>,
    pub changes: Vec<KeyedChange>,
}

#[derive(Debug, Clone)]
pub struct JournalRequest {
    pub id: String,
    pub action: String,
    pub subject: String,
    pub playbook_sha256: String,
    pub args: Option<RequestArgs>,
    pub status: JournalStatus,
}

fn now() -> String {
    crate::timestamp::now()
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl State {
    pub async fn journal_create(
        &self,
        id: &str,
        action: &str,
        subject: &str,
        playbook_sha: &str,
        args: &RequestArgs,
    ) -> Result<(), StateError> {
        let t = now();
        on_pool!(&self.pool, p => sqlx::query("INSERT INTO journal_requests (id, action, subject, playbook_sha256, request, status, created, updated, runner) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8)")
            .bind(id)
            .bind(action)
            .bind(subject)
            .bind(playbook_sha)
            .bind(json(args))
            .bind(&t)
            .bind(&t)
            .bind(super::ledger::runner())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Starts a request's journal afresh: created if missing, else running again with no
    /// steps (an export whose unfinished bundle was removed is run from the start).
    pub async fn journal_restart(
        &self,
        id: &str,
        action: &str,
        subject: &str,
        playbook_sha: &str,
        args: &RequestArgs,
    ) -> Result<(), StateError> {
        if self.journal_get(id).await?.is_none() {
            return self
                .journal_create(id, action, subject, playbook_sha, args)
                .await;
        }
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM journal_steps WHERE request_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE journal_requests SET status = 'running', playbook_sha256 = $1, request = $2, \
                 updated = $3, runner = $4 WHERE id = $5",
            )
            .bind(playbook_sha)
            .bind(json(args))
            .bind(now())
            .bind(super::ledger::runner())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The unfinished request for the same action, subject, playbook and changes, if any. A
    /// correction to other values is another request: continuing the old one would write the
    /// old values. The `--set` arguments a running request keeps for resuming are what is
    /// compared, so nothing more is stored for it.
    pub async fn journal_open_for(
        &self,
        action: &str,
        subject: &str,
        playbook_sha: &str,
        sets: &[String],
    ) -> Result<Option<JournalRequest>, StateError> {
        let ids: Vec<String> = on_pool!(&self.pool, p => sqlx::query_scalar(
            "SELECT id FROM journal_requests WHERE action = $1 AND subject = $2 AND playbook_sha256 = $3 AND status = 'running' ORDER BY created DESC",
        )
        .bind(action)
        .bind(subject)
        .bind(playbook_sha)
        .fetch_all(p)
        .await)?;
        for id in ids {
            if let Some(r) = self.journal_get(&id).await?
                && r.args.as_ref().is_some_and(|a| a.same_changes(sets))
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    pub async fn journal_get(&self, id: &str) -> Result<Option<JournalRequest>, StateError> {
        let row: Option<(String, String, String, String, Option<String>, String)> = on_pool!(&self.pool, p => sqlx::query_as("SELECT id, action, subject, playbook_sha256, request, status FROM journal_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await)?;
        let Some((id, action, subject, playbook_sha256, request, status)) = row else {
            return Ok(None);
        };
        Ok(Some(JournalRequest {
            status: status.parse()?,
            args: request.and_then(|r| serde_json::from_str(&r).ok()),
            id,
            action,
            subject,
            playbook_sha256,
        }))
    }

    /// Records a finished read step (replacing an earlier attempt's record).
    pub async fn journal_step(
        &self,
        id: &str,
        outcome: &StepOutcome,
        provided: &Provided,
        changes: Option<&Value>,
    ) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO journal_steps (request_id, system, collection, outcome, provided, changes) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (request_id, system, collection) DO UPDATE SET outcome = excluded.outcome, provided = excluded.provided, changes = excluded.changes",
        )
        .bind(id)
        .bind(&outcome.system)
        .bind(&outcome.collection)
        .bind(json(outcome))
        .bind(json(provided))
        .bind(changes.map(json))
        .execute(p)
        .await
        .map(|_| ()))?;
        // The process that records a step is the one running the request (a resumed run
        // takes it over from the one that stopped).
        on_pool!(&self.pool, p => sqlx::query("UPDATE journal_requests SET updated = $1, runner = $2 WHERE id = $3")
            .bind(now())
            .bind(super::ledger::runner())
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Every recorded read step: outcome, provided values and planned changes.
    pub async fn journal_steps(
        &self,
        id: &str,
    ) -> Result<BTreeMap<CollectionId, (StepOutcome, Provided, StepChanges)>, StateError> {
        let rows: Vec<(String, Option<String>, Option<String>)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT outcome, provided, changes FROM journal_steps WHERE request_id = $1",
        )
        .bind(id)
        .fetch_all(p)
        .await)?;
        let mut out = BTreeMap::new();
        for (outcome, provided, changes) in rows {
            let Ok(outcome) = serde_json::from_str::<StepOutcome>(&outcome) else {
                continue;
            };
            // A step whose provided values cannot be read (written by an older dsr, which kept
            // them column by column) is run again rather than built upon with nothing.
            let provided = match provided {
                None => Provided::default(),
                Some(p) => match serde_json::from_str(&p) {
                    Ok(p) => p,
                    Err(_) => continue,
                },
            };
            let changes = changes
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
            let id = CollectionId {
                system: outcome.system.clone(),
                collection: outcome.collection.clone(),
            };
            out.insert(id, (outcome, provided, changes));
        }
        Ok(out)
    }

    /// The read steps a resumed run need not redo: those that finished without failing.
    pub async fn journal_finished(
        &self,
        id: &str,
    ) -> Result<(Finished, BTreeMap<CollectionId, StepChanges>), StateError> {
        let mut finished = Finished::new();
        let mut changes = BTreeMap::new();
        for (cid, (outcome, provided, ch)) in self.journal_steps(id).await? {
            let reusable = outcome.status == crate::run::Status::Done
                || outcome.skip().is_some_and(|s| s.lacks_input());
            if reusable {
                changes.insert(cid.clone(), ch);
                finished.insert(cid, (outcome, provided));
            }
        }
        Ok((finished, changes))
    }

    /// Records the write state of one system.
    pub async fn journal_write(
        &self,
        id: &str,
        system: &str,
        status: WriteStatus,
        detail: &Value,
    ) -> Result<(), StateError> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO journal_writes (request_id, system, status, detail) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (request_id, system) DO UPDATE SET status = excluded.status, detail = excluded.detail",
        )
        .bind(id)
        .bind(system)
        .bind(status.name())
        .bind(json(detail))
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn journal_writes(
        &self,
        id: &str,
    ) -> Result<BTreeMap<String, (WriteStatus, Value)>, StateError> {
        let rows: Vec<(String, String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT system, status, detail FROM journal_writes WHERE request_id = $1",
        )
        .bind(id)
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(s, st, d)| {
                let detail = serde_json::from_str(&d).unwrap_or(Value::Null);
                Ok((s, (st.parse()?, detail)))
            })
            .collect()
    }

    /// Ends a request: its status is set and every piece of personal data it held (identities,
    /// keys, planned changes, provided values) is deleted, in one transaction.
    pub async fn journal_finish(&self, id: &str, status: JournalStatus) -> Result<(), StateError> {
        let updated = now();
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE journal_requests SET status = $1, request = NULL, updated = $2 WHERE id = $3",
            )
            .bind(status.name())
            .bind(&updated)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE journal_steps SET provided = NULL, changes = NULL WHERE request_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.checkpoint().await;
        Ok(())
    }
}

impl RequestArgs {
    pub fn identities(&self) -> RequestIdentities {
        RequestIdentities(self.identities.clone())
    }

    /// Whether `sets` asks for the changes this request makes: the same targets set to the
    /// same values, in any order (an erase has none, so erases always match).
    pub fn same_changes(&self, sets: &[String]) -> bool {
        change_set(&self.sets) == change_set(sets)
    }
}

/// `--set TARGET=VALUE` arguments as sorted (target, value) pairs; the target is trimmed as
/// the correction itself trims it, the value is kept exactly.
fn change_set(sets: &[String]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = sets
        .iter()
        .map(|s| match s.split_once('=') {
            Some((target, value)) => (target.trim(), value),
            None => (s.trim(), ""),
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(sets: &[&str]) -> RequestArgs {
        RequestArgs {
            identities: BTreeMap::new(),
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_correction_matches_only_the_same_changes() {
        let old = args(&["crm.users.Full Name=AAA", "contact.phone=1"]);
        let same = [
            "contact.phone=1".to_string(),
            " crm.users.Full Name =AAA".to_string(),
        ];
        assert!(old.same_changes(&same));
        assert!(!old.same_changes(&["crm.users.Full Name=BBB".into(), "contact.phone=1".into()]));
        assert!(!old.same_changes(&["crm.users.Full Name=AAA".into()]));
        assert!(!old.same_changes(&["crm.users.Full Name=AAA ".into(), "contact.phone=1".into()]));
        assert!(args(&[]).same_changes(&[]));
    }
}
