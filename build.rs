//! Puts the git commit into `dsr --version` (`dsr 0.1.0 (1a2b3c4)`), so a binary says which
//! source it was built from. Without git or a `.git` (a source tarball, the Docker build,
//! whose context leaves `.git` out) the version is the crate's alone; `DSR_BUILD_COMMIT`
//! names the commit for builds like those.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DSR_BUILD_COMMIT");
    let version = env!("CARGO_PKG_VERSION");
    let commit = std::env::var("DSR_BUILD_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(git_commit);
    match commit {
        Some(c) => println!("cargo:rustc-env=DSR_VERSION={version} ({c})"),
        None => println!("cargo:rustc-env=DSR_VERSION={version}"),
    }
}

/// The short hash of HEAD, and the files to watch so that a new commit or checkout (and only
/// that) runs this script again.
fn git_commit() -> Option<String> {
    // Only this crate's own checkout: a tarball unpacked inside some other repository must
    // not take that repository's commit.
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    if top.canonicalize().ok()? != here.canonicalize().ok()? {
        return None;
    }
    let hash = git(&["rev-parse", "--short", "HEAD"])?;
    // `--git-path` resolves the files git itself reads, also in a linked worktree, where HEAD
    // is in the worktree's own git directory and the branch refs in the shared one.
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(git(&["rev-parse", "--git-path", &branch])?);
    }
    // A branch ref may live only in packed-refs (after `git gc`).
    watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watch {
        // Cargo reruns a build script on every build when a watched file is missing.
        if PathBuf::from(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(hash)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}
