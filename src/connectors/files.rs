//! Files on disk: whole files found by path templates, or the rows of CSV / JSON-lines files.

/// What a files collection's records are, when they are rows rather than whole files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

impl FileFormat {
    pub const NAMES: [&'static str; 2] = ["csv", "jsonl"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// Why a collection's path cannot be used: it must stay inside the system's directory.
pub fn check_relative(path: &str) -> Option<String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Some(format!(
            "'{path}' is absolute; a collection's path is relative to the system's `path:`"
        ));
    }
    if path
        .split(['/', '\\'])
        .any(|seg| seg == ".." || seg.is_empty())
    {
        return Some(format!(
            "'{path}' has an empty or '..' segment; it must stay inside the system's directory"
        ));
    }
    None
}
