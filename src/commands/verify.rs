//! `dsr verify`: checks a report's signature, every file of its bundle, and the audit log.
//!
//! Every problem is collected and printed (not only the first), each naming what failed:
//! the key, the report's bytes, or a file by its path. Exit 0 valid, 1 invalid, 2 usage.

use crate::audit;
use crate::cli::Global;
use crate::error::{Exit, UsageError};
use crate::evidence::{MANIFEST, REPORT_SIG};
use crate::output::bundle::hash_file;
use crate::signing;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// A report or manifest lists files, never their contents: anything this large is not one. A
/// bundle may come from anyone, so `dsr verify` must not read an endless or huge file whole.
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;
/// An SSH signature is a few hundred bytes.
const MAX_SIG_BYTES: u64 = 64 * 1024;

/// Reads a whole file of at most `limit` bytes; a larger one (or a device such as `/dev/zero`)
/// is an error, found after reading `limit + 1` bytes at most.
fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes: not a dsr report file"),
        ));
    }
    Ok(bytes)
}

pub struct Args<'a> {
    pub report: Option<&'a Path>,
    pub bundle: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub audit_log: Option<&'a Path>,
}

#[derive(Default)]
struct Outcome {
    ok: Vec<String>,
    problems: Vec<String>,
}

pub fn run(global: &Global, args: &Args<'_>) -> anyhow::Result<Exit> {
    let mut out = Outcome::default();
    if let Some(log) = args.audit_log {
        match audit::verify(log) {
            Ok(n) => out.ok.push(format!(
                "audit log {}: {n} lines, chain intact",
                log.display()
            )),
            Err(audit::VerifyError::Broken(b)) => out
                .problems
                .push(format!("audit log {}: {b}", log.display())),
            Err(e @ audit::VerifyError::Io { .. }) => {
                return Err(UsageError::new(e.to_string()).into());
            }
        }
    }
    if let Some(report) = args.report {
        verify_report(global, args, report, &mut out)?;
    }
    let valid = out.problems.is_empty();
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "valid": valid, "ok": out.ok, "problems": out.problems })
        );
    } else {
        for line in &out.ok {
            println!("ok: {line}");
        }
        for line in &out.problems {
            println!("FAILED: {line}");
        }
        println!("{}", if valid { "VALID" } else { "INVALID" });
    }
    // 1 = "something does not hold" (shared with "partial" of the request commands).
    Ok(if valid { Exit::Done } else { Exit::Partial })
}

fn verify_report(
    global: &Global,
    args: &Args<'_>,
    report: &Path,
    out: &mut Outcome,
) -> anyhow::Result<()> {
    let bytes = read_limited(report, MAX_REPORT_BYTES).map_err(|e| {
        UsageError::new(format!("cannot read {}: {e}", report.display()))
            .with_hint("give the path of a report.json")
    })?;
    let key_path = match args.key {
        Some(k) => k.to_path_buf(),
        None => {
            let p = super::state_dir(global)?.join(signing::PUBLIC_FILE);
            if !p.exists() {
                return Err(UsageError::new("no public key to check the signature with")
                    .with_hint("pass --key with the signer's .pub or allowed_signers file")
                    .into());
            }
            p
        }
    };
    let public = signing::read_public(&key_path).map_err(|e| UsageError::new(e.to_string()))?;
    let name = report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.json".into());
    let mut sig_path = report.as_os_str().to_owned();
    sig_path.push(".sig");
    let sig_path = PathBuf::from(sig_path);
    match read_limited(&sig_path, MAX_SIG_BYTES).and_then(|b| {
        String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }) {
        Err(_) => out.problems.push(format!(
            "signature: {} is missing or unreadable: the report cannot be trusted",
            sig_path.display()
        )),
        Ok(sig) => match signing::verify(&public, &bytes, &sig) {
            Ok(()) => out.ok.push(format!(
                "signature of {name} by {} ({})",
                sig_signer(&bytes),
                signing::fingerprint(&public)
            )),
            Err(signing::SignatureProblem::Mismatch) => out.problems.push(format!(
                "signature: it does not match {name}'s bytes: {name} was changed after it was signed"
            )),
            Err(p) => out.problems.push(format!("signature: {p}")),
        },
    }

    let dir = match args.bundle {
        Some(b) => b.to_path_buf(),
        None => report
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    verify_files(&dir, &bytes, &name, out);
    Ok(())
}

fn sig_signer(report: &[u8]) -> String {
    serde_json::from_slice::<Value>(report)
        .ok()
        .and_then(|v| v["signature"]["signer"].as_str().map(str::to_string))
        .unwrap_or_else(|| "an unnamed signer".into())
}

/// `(bytes, sha256)` of each listed file.
type Listing = BTreeMap<String, (u64, String)>;

fn listing(files: Option<&Value>) -> Option<Listing> {
    let mut out = BTreeMap::new();
    for f in files?.as_array()? {
        out.insert(
            f["path"].as_str()?.to_string(),
            (f["bytes"].as_u64()?, f["sha256"].as_str()?.to_string()),
        );
    }
    Some(out)
}

fn is_safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}

fn verify_files(dir: &Path, report_bytes: &[u8], report_name: &str, out: &mut Outcome) {
    let signed = serde_json::from_slice::<Value>(report_bytes)
        .ok()
        .and_then(|v| listing(v.get("files")));
    let Some(signed) = signed else {
        out.problems
            .push(format!("{report_name} is not a dsr report (no file list)"));
        return;
    };
    let manifest = match read_limited(&dir.join(MANIFEST), MAX_REPORT_BYTES) {
        Ok(b) => match serde_json::from_slice::<Value>(&b)
            .ok()
            .and_then(|v| listing(v.get("files")))
        {
            Some(l) => Some(l),
            None => {
                out.problems
                    .push(format!("{MANIFEST} is not a dsr manifest (no file list)"));
                None
            }
        },
        Err(_) => {
            out.problems
                .push(format!("missing: {MANIFEST} in {}", dir.display()));
            None
        }
    };
    let mut expected: Listing = signed.clone();
    if let Some(m) = &manifest {
        for (path, entry) in m {
            match signed.get(path) {
                Some(s) if s != entry => out.problems.push(format!(
                    "{MANIFEST} disagrees with the signed report about {path}: the manifest was changed"
                )),
                Some(_) => {}
                None => {
                    expected.insert(path.clone(), entry.clone());
                }
            }
        }
        for path in signed.keys() {
            if !m.contains_key(path) {
                out.problems.push(format!(
                    "{MANIFEST} does not list {path}, which the signed report does: the manifest was changed"
                ));
            }
        }
    }
    let mut matched = 0;
    for (path, (bytes, sha)) in &expected {
        if !is_safe_relative(path) {
            out.problems
                .push(format!("unsafe path in the file list: {path}"));
            continue;
        }
        // The report and its signature are listed only in the unsigned manifest; the signature
        // check above is what protects them.
        match hash_file(&dir.join(path)) {
            Err(_) => out.problems.push(format!("missing: {path}")),
            Ok((b, s)) if b == *bytes && s == *sha => matched += 1,
            Ok((b, _)) if b == *bytes => out
                .problems
                .push(format!("changed: {path} (same size, different SHA-256)")),
            Ok((b, _)) => out.problems.push(format!(
                "changed: {path} ({bytes} bytes listed, {b} on disk)"
            )),
        }
    }
    let mut on_disk = Vec::new();
    walk(dir, dir, &mut on_disk);
    on_disk.sort();
    for path in on_disk {
        if path != MANIFEST && !expected.contains_key(&path) && path != REPORT_SIG {
            out.problems.push(format!(
                "extra: {path} (not listed in the report or {MANIFEST})"
            ));
        }
    }
    out.ok.push(format!(
        "{matched} of {} listed files in {} match their SHA-256",
        expected.len(),
        dir.display()
    ));
}
