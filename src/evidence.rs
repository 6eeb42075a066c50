//! Evidence of a request, from receipt to completion, in one place for every action.
//!
//! [`begin`] records the request: its deadline, a ledger row (`in_progress`), and the
//! `received` and `started` audit events. [`Request::finish`] writes `report.md` and the
//! canonical `report.json` into the request's directory, signs it (`report.json.sig`), writes
//! `manifest.json`, completes the ledger row and appends `system_finished` and `completed`
//! audit events. `export` calls both; `erase` and `correct` call the same two, passing what
//! they changed per collection as [`Changes`].
//!
//! What covers what: the signed `report.json` lists the SHA-256 of every file written before
//! it (data files, `index.html`, `report.md`). `manifest.json` lists every file of the bundle
//! except itself (so also `report.json` and `report.json.sig`), for the person and for tools
//! that only know checksum lists. The manifest is not signed; `dsr verify` checks the files
//! against both, and the report's list is the one that carries the signature.

use crate::audit::{self, AuditLog};
use crate::connectors::Validated;
use crate::deadline::{self, Deadline};
use crate::error::UsageError;
use crate::identity::RequestIdentities;
use crate::output::bundle::{self, Bundle};
use crate::output::report::{
    self, Changes, Manifest, Report, ReportInput, SignatureRef, SubjectRef,
};
use crate::plan::Action;
use crate::playbook::CollectionId;
use crate::run::StepOutcome;
use crate::run::outcome::system_status;
use crate::signing::{self, SignError};
use crate::state::ledger::{self, Row};
use crate::state::{State, StateError};
use crate::subject::{self, SubjectKeyError};
use sha2::{Digest, Sha256};
use ssh_key::PrivateKey;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const REPORT_JSON: &str = "report.json";
pub const REPORT_SIG: &str = "report.json.sig";
pub const REPORT_MD: &str = "report.md";
pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_FORMAT: &str = "dsr-manifest/1";

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    SubjectKey(#[from] SubjectKeyError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error("writing {file}: {source}")]
    Write {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("encoding the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// How the request was received and who runs it, from the command line.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// `--regulation`; else the playbook's `regulation:`; else GDPR.
    pub regulation: Option<String>,
    /// `--received`; else now.
    pub received: Option<String>,
    /// `--extension-reason`: extends the deadline as the regulation allows.
    pub extension_reason: Option<String>,
    /// `--operator` / `DSR_OPERATOR`; else the login name.
    pub operator: Option<String>,
    /// `--include-identity`: write the identity values into the report.
    pub include_identity: bool,
    /// When this run of the request began (before its read phase); else when it is begun.
    pub started: Option<jiff::Timestamp>,
}

/// A new request's deadline from the options and the playbook; mistakes are the user's to fix.
/// An extension is decided now, so it is refused once the original deadline has passed: GDPR
/// Art. 12(3) lets the controller extend only by telling the person within the first period.
pub fn deadline_for(v: &Validated, opts: &RequestOptions) -> Result<Deadline, UsageError> {
    let mut d = deadline_as_given(v, opts)?;
    if d.extension_reason.is_some() {
        let now = jiff::Timestamp::now();
        let original = deadline::original_due(&d).map_err(|e| UsageError::new(e.to_string()))?;
        if now > original {
            return Err(UsageError::new(format!(
                "--extension-reason comes too late: the original deadline passed on {}",
                original.display_with_offset(d.received.offset)
            ))
            .with_hint(
                "an extension must be decided, and the person told why, within the original period (GDPR Art. 12(3)); \
                 drop --extension-reason and answer now: the report records the deadline as missed",
            ));
        }
        d.extension_decided = Some(now);
    }
    Ok(d)
}

/// The deadline of a request already in the ledger: as it was recorded, extension included.
fn deadline_of_row(v: &Validated, row: &Row, opts: &RequestOptions) -> anyhow::Result<Deadline> {
    let original = RequestOptions {
        regulation: Some(row.regulation.clone()),
        received: Some(row.received.clone()),
        extension_reason: row.extension_reason.clone(),
        ..opts.clone()
    };
    let mut d = deadline_as_given(v, &original)?;
    d.extension_decided = row
        .extension_decided
        .as_deref()
        .and_then(|t| t.parse().ok());
    Ok(d)
}

fn deadline_as_given(v: &Validated, opts: &RequestOptions) -> Result<Deadline, UsageError> {
    let pb = &v.loaded.playbook;
    let name = opts
        .regulation
        .clone()
        .or_else(|| pb.regulation.clone())
        .unwrap_or_else(|| deadline::DEFAULT_REGULATION.to_string());
    let policy = deadline::lookup(&name, &pb.deadlines).ok_or_else(|| {
        let mut known: Vec<&str> = deadline::BUILTIN.to_vec();
        known.extend(pb.deadlines.keys().map(String::as_str));
        UsageError::new(format!("unknown regulation '{name}'"))
            .with_hint(format!("known here: {}", known.join(", ")))
    })?;
    let received = match &opts.received {
        Some(text) => deadline::parse_received(text)
            .map_err(|e| UsageError::new(format!("--received: {e}")))?,
        // Received when this run began, unless told otherwise: never after its first step.
        None => deadline::Received {
            at: opts.started.unwrap_or_else(jiff::Timestamp::now),
            offset: jiff::tz::Offset::UTC,
        },
    };
    if received.at > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(5) {
        return Err(UsageError::new("--received is in the future")
            .with_hint("give the moment the person's request reached you"));
    }
    let reason = opts.extension_reason.as_deref().map(str::trim);
    if reason == Some("") {
        return Err(UsageError::new("--extension-reason is empty")
            .with_hint("say why the request needs longer; the report records it"));
    }
    deadline::due(&policy, &received, reason).map_err(|e| {
        UsageError::new(e.to_string()).with_hint("drop --extension-reason for this regulation")
    })
}

/// Who runs the request: `--operator` / `DSR_OPERATOR`, else `$USER`, `$LOGNAME`, else the
/// login name of the process's uid. Cron, systemd units and containers often set neither
/// variable, and a report that names no one is weaker evidence than one naming the account.
pub fn operator(opts: &RequestOptions) -> Option<String> {
    let named = |o: Option<String>| o.map(|o| o.trim().to_string()).filter(|o| !o.is_empty());
    named(opts.operator.clone())
        .or_else(|| named(std::env::var("USER").ok()))
        .or_else(|| named(std::env::var("LOGNAME").ok()))
        .or_else(|| named(login_name()))
}

/// The user database's name for the process's uid (`getpwuid_r`), if it has one: a uid
/// without a passwd entry (common in containers) has none.
#[cfg(unix)]
fn login_name() -> Option<String> {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() };
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids); getpwuid_r
        // fills it with pointers into `buf`, which outlives every use of them below.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
        // ERANGE: the entry does not fit; try a larger buffer, within reason.
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
        return name.to_str().ok().map(str::to_string);
    }
}

#[cfg(not(unix))]
fn login_name() -> Option<String> {
    None
}

/// A request under way.
pub struct Request {
    pub id: String,
    pub action: Action,
    pub deadline: Deadline,
    pub operator: Option<String>,
    pub subject: SubjectRef,
    pub started: String,
    state: State,
    audit: AuditLog,
    key: PrivateKey,
    signer: String,
}

/// What [`begin`] did that the user should hear about.
pub struct Begun {
    pub request: Request,
    /// Set when no signing key existed and one was created here.
    pub key_created: Option<PathBuf>,
}

/// Records a new request: ledger row, `received` and `started` audit events. Loads (or on
/// first use creates) the signing key first, so a request never runs that cannot be signed.
pub async fn begin(
    state: &State,
    ids: &RequestIdentities,
    action: Action,
    request_id: &str,
    deadline: Deadline,
    opts: &RequestOptions,
) -> Result<Begun, EvidenceError> {
    start(state, ids, action, request_id, deadline, opts, Start::New).await
}

/// Picks up a request that is already in the ledger (an erase resumed after a stop): its row
/// and deadline stay as they were, and the audit log gets a `resumed` event. A request not in
/// the ledger yet is begun as new.
pub async fn resume(
    state: &State,
    ids: &RequestIdentities,
    action: Action,
    request_id: &str,
    v: &Validated,
    opts: &RequestOptions,
) -> anyhow::Result<Begun> {
    let existing = state.ledger_get(request_id).await?;
    let Some(row) = existing else {
        let deadline = deadline_for(v, opts)?;
        return Ok(begin(state, ids, action, request_id, deadline, opts).await?);
    };
    let deadline = deadline_of_row(v, &row, opts)?;
    // A queued request was received (and recorded) when it was queued; now it starts.
    let how = if row.status == ledger::QUEUED {
        Start::Queued
    } else {
        Start::Resumed
    };
    Ok(start(state, ids, action, request_id, deadline, opts, how).await?)
}

/// How a request comes to run.
#[derive(PartialEq)]
enum Start {
    New,
    Queued,
    Resumed,
}

async fn start(
    state: &State,
    ids: &RequestIdentities,
    action: Action,
    request_id: &str,
    deadline: Deadline,
    opts: &RequestOptions,
    how: Start,
) -> Result<Begun, EvidenceError> {
    let state_dir = state.dir.as_path();
    let state = state.clone();
    let (key, created) = signing::load_or_create(state_dir)?;
    let hmac_key = subject::load_or_create_key(state_dir)?;
    let subject = SubjectRef {
        identity_kinds: ids.kinds().iter().map(|k| k.to_string()).collect(),
        hash: subject::subject_hash(&hmac_key, ids),
        identities: opts.include_identity.then(|| subject::normalise(ids)),
    };
    let request = Request {
        id: request_id.to_string(),
        action,
        operator: operator(opts),
        started: opts
            .started
            .map_or_else(crate::timestamp::now, crate::timestamp::stamp),
        signer: signing::signer_of(&key),
        audit: AuditLog::in_dir(state_dir),
        subject,
        deadline,
        state,
        key,
    };
    if how != Start::New {
        request.state.ledger_started(&request.id).await?;
        let event = if how == Start::Queued {
            "started"
        } else {
            "resumed"
        };
        request
            .audit
            .append_all_async(vec![audit::Event {
                operator: request.operator.clone(),
                ..request.event(event)
            }])
            .await?;
        return Ok(Begun {
            request,
            key_created: created.then(|| state_dir.to_path_buf()),
        });
    }
    let d = &request.deadline;
    request
        .state
        .ledger_insert(&Row {
            id: request.id.clone(),
            action: action.name().into(),
            subject_hash: request.subject.hash.clone(),
            regulation: d.policy.name.clone(),
            received: d.received.rfc3339(),
            due: d.due_rfc3339(),
            due_utc: d.due.to_string(),
            extension_reason: d.extension_reason.clone(),
            extension_decided: d.extension_decided.map(|t| t.to_string()),
            status: ledger::IN_PROGRESS.into(),
            completed: None,
            deadline_met: None,
            outcomes: BTreeMap::new(),
            report_path: None,
            runner: Some(ledger::runner()),
            closed_reason: None,
        })
        .await?;
    let base = request.event("received");
    let events = vec![
        audit::Event {
            subject: Some(request.subject.hash.clone()),
            regulation: Some(d.policy.name.clone()),
            received: Some(d.received.rfc3339()),
            due: Some(d.due_rfc3339()),
            reason: d.extension_reason.clone(),
            ..base
        },
        audit::Event {
            operator: request.operator.clone(),
            ..request.event("started")
        },
    ];
    request.audit.append_all_async(events).await?;
    Ok(Begun {
        request,
        key_created: created.then(|| state_dir.to_path_buf()),
    })
}

/// Records a request queued for later (`dsr requests add`): a ledger row `queued`, with the
/// deadline that runs from its receipt, and the `received` audit event. It starts when the
/// queue runs it ([`resume`] finds the row).
pub async fn record_queued(
    state: &State,
    subject_hash: &str,
    action: Action,
    request_id: &str,
    d: &Deadline,
) -> Result<(), EvidenceError> {
    state
        .ledger_insert(&Row {
            id: request_id.to_string(),
            action: action.name().into(),
            subject_hash: subject_hash.to_string(),
            regulation: d.policy.name.clone(),
            received: d.received.rfc3339(),
            due: d.due_rfc3339(),
            due_utc: d.due.to_string(),
            extension_reason: d.extension_reason.clone(),
            extension_decided: d.extension_decided.map(|t| t.to_string()),
            status: ledger::QUEUED.into(),
            completed: None,
            deadline_met: None,
            outcomes: BTreeMap::new(),
            report_path: None,
            runner: None,
            closed_reason: None,
        })
        .await?;
    AuditLog::in_dir(&state.dir)
        .append_all_async(vec![audit::Event {
            event: "received",
            request_id: request_id.to_string(),
            action: Some(action.name()),
            subject: Some(subject_hash.to_string()),
            regulation: Some(d.policy.name.clone()),
            received: Some(d.received.rfc3339()),
            due: Some(d.due_rfc3339()),
            reason: d.extension_reason.clone(),
            ..Default::default()
        }])
        .await?;
    Ok(())
}

/// Closes an open request by hand (`dsr requests close`): the ledger row is `closed` with the
/// reason, its queued or journaled personal data goes, and the audit log gets a `closed` event.
pub async fn close(
    state: &State,
    entry: &ledger::Entry,
    reason: &str,
    operator: Option<String>,
) -> Result<(), EvidenceError> {
    let now = jiff::Timestamp::now();
    let met = entry
        .due_utc
        .as_deref()
        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
        .map(|due| now <= due);
    state
        .ledger_close(&entry.id, reason, &now.to_string(), met)
        .await?;
    AuditLog::in_dir(&state.dir)
        .append_all_async(vec![audit::Event {
            event: "closed",
            request_id: entry.id.clone(),
            action: Action::from_name(&entry.action).map(Action::name),
            subject: Some(entry.subject_hash.clone()),
            operator,
            status: Some(ledger::CLOSED.to_string()),
            deadline_met: met,
            reason: Some(reason.to_string()),
            ..Default::default()
        }])
        .await?;
    Ok(())
}

/// The finished request's evidence.
pub struct Finished {
    pub report: Report,
    pub report_path: PathBuf,
}

impl Request {
    fn event(&self, name: &'static str) -> audit::Event {
        audit::Event {
            event: name,
            request_id: self.id.clone(),
            action: Some(self.action.name()),
            ..Default::default()
        }
    }

    /// Writes, signs and records the outcome. `bundle` already holds every other file of the
    /// request (data files, `index.html`); `changes` is empty for an export.
    pub async fn finish(
        &self,
        v: &Validated,
        outcomes: &[StepOutcome],
        changes: &BTreeMap<CollectionId, Changes>,
        bundle: &Bundle,
    ) -> Result<Finished, EvidenceError> {
        let completed = jiff::Timestamp::now();
        let public = self.key.public_key();
        let files = bundle.files();
        let report = report::build(ReportInput {
            v,
            action: self.action,
            request_id: &self.id,
            deadline: &self.deadline,
            operator: self.operator.clone(),
            subject: self.subject.clone(),
            signature: SignatureRef {
                format: "sshsig",
                namespace: signing::NAMESPACE,
                signer: self.signer.clone(),
                key_fingerprint: signing::fingerprint(public),
            },
            started: self.started.clone(),
            completed,
            outcomes,
            changes,
            files: &files,
        });
        // The files are written and synced on a blocking thread, so that the syncs do not
        // hold up the requests running beside this one (a batch runs many in one task).
        let (report, json) = {
            let bundle = bundle.clone();
            let key = self.key.clone();
            let id = self.id.clone();
            tokio::task::spawn_blocking(move || write_report(report, &bundle, &key, id))
                .await
                .map_err(|e| EvidenceError::Write {
                    file: REPORT_JSON,
                    source: std::io::Error::other(e),
                })??
        };

        let report_path = std::path::absolute(bundle.dir().join(REPORT_JSON))
            .unwrap_or_else(|_| bundle.dir().join(REPORT_JSON));
        let per_system: BTreeMap<String, String> = report
            .systems
            .iter()
            .map(|s| (s.name.clone(), s.status.name().to_string()))
            .collect();
        self.state
            .ledger_complete(
                &self.id,
                report.outcome.name(),
                &report.completed,
                report.deadline_met,
                &per_system,
                &report_path.display().to_string(),
            )
            .await?;
        let mut events: Vec<audit::Event> = report
            .systems
            .iter()
            .map(|s| {
                let steps = outcomes.iter().filter(|o| o.system == s.name);
                audit::Event {
                    system: Some(s.name.clone()),
                    status: Some(system_status(steps).name().to_string()),
                    records: Some(s.records_found),
                    ..self.event("system_finished")
                }
            })
            .collect();
        events.push(audit::Event {
            status: Some(report.outcome.name().to_string()),
            report_sha256: Some(hex::encode(Sha256::digest(&json))),
            deadline_met: Some(report.deadline_met),
            ..self.event("completed")
        });
        self.audit.append_all_async(events).await?;
        Ok(Finished {
            report,
            report_path,
        })
    }
}

/// Writes `report.md`, the canonical `report.json`, its signature and `manifest.json`; returns
/// the report (with `report.md` in its file list) and the signed bytes.
fn write_report(
    mut report: Report,
    bundle: &Bundle,
    key: &PrivateKey,
    request_id: String,
) -> Result<(Report, Vec<u8>), EvidenceError> {
    bundle
        .sync_pending()
        .map_err(|source| EvidenceError::Write {
            file: "the data files",
            source,
        })?;
    let md = bundle
        .add(REPORT_MD, report::markdown(&report).as_bytes())
        .map_err(|source| EvidenceError::Write {
            file: REPORT_MD,
            source,
        })?;
    report.files.push(md);
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    let json = report::canonical_json(&report)?;
    bundle
        .add(REPORT_JSON, &json)
        .map_err(|source| EvidenceError::Write {
            file: REPORT_JSON,
            source,
        })?;
    let sig = signing::sign(key, &json)?;
    bundle
        .add(REPORT_SIG, sig.as_bytes())
        .map_err(|source| EvidenceError::Write {
            file: REPORT_SIG,
            source,
        })?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        request_id,
        files: bundle.files(),
    };
    bundle::write_file(
        bundle.dir(),
        MANIFEST,
        &serde_json::to_vec_pretty(&manifest)?,
    )
    .map_err(|source| EvidenceError::Write {
        file: MANIFEST,
        source,
    })?;

    Ok((report, json))
}
