//! Walking a system's directory: which files a path pattern names, without following
//! symbolic links, and which values may go into a path at all.

use crate::connectors::template;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Whether a value may go into a path segment.
pub(super) fn path_safe(v: &str) -> bool {
    v != "." && v != ".." && !v.contains(['/', '\\', '\0'])
}

/// `a/b` for display and records, whatever the platform.
pub(super) fn rel_text(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Undoes [`template::escape_glob`] for a segment without wildcards.
pub(super) fn unescape(segment: &str) -> String {
    let mut out = String::new();
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a (escaped) segment has a wildcard outside escapes.
pub(super) fn has_wildcard(segment: &str) -> bool {
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// Every regular file the pattern matches under `root` (relative paths, sorted): segment by
/// segment, never through a symbolic link; a matched directory contributes every file under it.
pub(super) fn glob_files(root: &Path, pattern: &str) -> io::Result<Vec<PathBuf>> {
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for segment in pattern.split('/') {
        let mut next = Vec::new();
        for dir in &current {
            let full = root.join(dir);
            if !has_wildcard(segment) {
                let rel = dir.join(unescape(segment));
                if fs::symlink_metadata(root.join(&rel)).is_ok() {
                    next.push(rel);
                }
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&full) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&full)? {
                let entry = entry?;
                if let Some(name) = entry.file_name().to_str()
                    && template::glob_match(segment, name)
                {
                    next.push(dir.join(name));
                }
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    for rel in current {
        collect_files(root, &rel, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `rel` itself when it is a regular file; every regular file under it when it is a directory.
pub(super) fn collect_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let Ok(meta) = fs::symlink_metadata(root.join(rel)) else {
        return Ok(());
    };
    if meta.is_file() {
        out.push(rel.to_path_buf());
    } else if meta.is_dir() {
        for entry in fs::read_dir(root.join(rel))? {
            collect_files(root, &rel.join(entry?.file_name()), out)?;
        }
    }
    Ok(())
}
