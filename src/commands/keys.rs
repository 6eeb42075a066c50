//! `dsr keys generate`: the Ed25519 key pair that signs reports.

use crate::cli::{Global, KeysCommand};
use crate::error::{Exit, UsageError};
use crate::signing::{self, SignError};

pub fn run(global: &Global, command: &KeysCommand) -> anyhow::Result<Exit> {
    let KeysCommand::Generate { out, signer } = command;
    let dir = match out {
        Some(d) => d.clone(),
        None => super::state_dir(global)?,
    };
    let (files, public) = signing::generate(&dir, signer).map_err(|e| match e {
        SignError::Exists(d) => anyhow::Error::new(
            UsageError::new(format!("a signing key already exists in {d}")).with_hint(
                "move the old key files away first (keep its .pub: reports it signed verify only with it), or pass --out DIR",
            ),
        ),
        SignError::BadSigner => anyhow::Error::new(
            UsageError::new(e.to_string()).with_hint("e.g. --signer privacy@example.com"),
        ),
        other => anyhow::Error::new(other),
    })?;
    let fingerprint = signing::fingerprint(&public);
    let auditor = format!(
        "ssh-keygen -Y verify -f allowed_signers -I {signer} -n {} -s report.json.sig < report.json",
        signing::NAMESPACE
    );
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "fingerprint": fingerprint,
                "signer": signer,
                "namespace": signing::NAMESPACE,
                "private_key": files.private.display().to_string(),
                "public_key": files.public.display().to_string(),
                "allowed_signers": files.allowed_signers.display().to_string(),
                "verify_command": auditor,
            })
        );
    } else {
        println!("Created an Ed25519 signing key {fingerprint} for signer '{signer}'");
        println!(
            "  private key      {}  (keep it secret; mode 0600)",
            files.private.display()
        );
        println!("  public key       {}", files.public.display());
        println!(
            "  allowed signers  {}  (give this to auditors)",
            files.allowed_signers.display()
        );
        println!("Auditors check a report with:\n  {auditor}");
    }
    Ok(Exit::Done)
}
