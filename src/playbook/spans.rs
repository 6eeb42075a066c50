//! Source positions for every key path in a YAML document.
//!
//! Validation works on the typed model, which no longer knows where a value came from. This
//! index maps a path such as `systems.app_db.collections.orders.match.user_id` back to the line
//! and column of that key and of its value, so every validation error can point at the file.

use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;

/// A 1-based line and column in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Pos,
    value: Pos,
}

/// Key path -> positions of the key and of its value.
#[derive(Debug, Default)]
pub struct SpanIndex {
    entries: HashMap<Vec<String>, Entry>,
    /// Where each key starts -> its path (also for duplicate keys, which `entries` drops).
    keys_at: HashMap<Pos, Vec<String>>,
    /// Where each value starts -> its path; the document's root value has the empty path.
    values_at: HashMap<Pos, Vec<String>>,
}

enum Frame {
    /// Inside a mapping; `pending` holds the key whose value comes next.
    Map {
        pending: Option<(String, Pos)>,
    },
    Seq {
        next: usize,
    },
}

impl SpanIndex {
    /// Builds the index; a document the parser rejects yields an empty index (the serde pass
    /// reports that error with its own position).
    pub fn build(source: &str) -> Self {
        let mut index = SpanIndex::default();
        let mut path: Vec<String> = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::Scalar(text, ..) => {
                    if let Some(Frame::Map { pending }) = stack.last_mut()
                        && pending.is_none()
                    {
                        *pending = Some((text.into_owned(), pos));
                        continue;
                    }
                    index.value_at(&mut path, &mut stack, pos);
                    index.leave_value(&mut path, &mut stack);
                }
                Event::Alias(_) => {
                    index.value_at(&mut path, &mut stack, pos);
                    index.leave_value(&mut path, &mut stack);
                }
                Event::MappingStart(..) => {
                    index.value_at(&mut path, &mut stack, pos);
                    stack.push(Frame::Map { pending: None });
                }
                Event::SequenceStart(..) => {
                    index.value_at(&mut path, &mut stack, pos);
                    stack.push(Frame::Seq { next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    index.leave_value(&mut path, &mut stack);
                }
                _ => {}
            }
        }
        index
    }

    /// A value starts at `pos`: record it under the key (or index) that owns it.
    fn value_at(&mut self, path: &mut Vec<String>, stack: &mut [Frame], pos: Pos) {
        match stack.last_mut() {
            Some(Frame::Map { pending }) => {
                let (key, key_pos) = pending.take().unwrap_or_else(|| (String::new(), pos));
                path.push(key);
                self.keys_at.entry(key_pos).or_insert_with(|| path.clone());
                self.values_at.entry(pos).or_insert_with(|| path.clone());
                self.entries.entry(path.clone()).or_insert(Entry {
                    key: key_pos,
                    value: pos,
                });
            }
            Some(Frame::Seq { next }) => {
                path.push(next.to_string());
                *next += 1;
                self.keys_at.entry(pos).or_insert_with(|| path.clone());
                self.values_at.entry(pos).or_insert_with(|| path.clone());
                self.entries.entry(path.clone()).or_insert(Entry {
                    key: pos,
                    value: pos,
                });
            }
            None => {
                self.values_at.entry(pos).or_default();
            }
        }
    }

    /// A value ended: drop its path segment.
    fn leave_value(&mut self, path: &mut Vec<String>, stack: &mut [Frame]) {
        if !stack.is_empty() {
            path.pop();
        }
    }

    /// Position of the key at `path`, or of the nearest ancestor that has one.
    pub fn key(&self, path: &[String]) -> Option<Pos> {
        self.nearest(path).map(|e| e.key)
    }

    /// Position of the value at `path`, or of the nearest ancestor that has one.
    pub fn value(&self, path: &[String]) -> Option<Pos> {
        self.nearest(path).map(|e| e.value)
    }

    /// The path of the key that starts at `pos`, for errors that know only a position.
    pub fn path_of_key(&self, pos: Pos) -> Option<&[String]> {
        self.keys_at.get(&pos).map(Vec::as_slice)
    }

    /// The path of the value that starts at `pos` (the root value has the empty path).
    pub fn path_of_value(&self, pos: Pos) -> Option<&[String]> {
        self.values_at.get(&pos).map(Vec::as_slice)
    }

    fn nearest(&self, path: &[String]) -> Option<Entry> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.entries.get(&path[..n]).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_nested_keys_and_values() {
        let src = "version: 1\nsystems:\n  app:\n    connector: sqlite\n    collections:\n      users:\n        match: { email: identity.email }\nlist: [a, b]\n";
        let idx = SpanIndex::build(src);
        assert_eq!(idx.key(&p(&["version"])), Some(Pos { line: 1, column: 1 }));
        assert_eq!(
            idx.value(&p(&["systems", "app", "connector"])),
            Some(Pos {
                line: 4,
                column: 16
            })
        );
        assert_eq!(
            idx.value(&p(&[
                "systems",
                "app",
                "collections",
                "users",
                "match",
                "email"
            ])),
            Some(Pos {
                line: 7,
                column: 25
            })
        );
        assert_eq!(
            idx.value(&p(&["list", "1"])),
            Some(Pos {
                line: 8,
                column: 11
            })
        );
        // Positions lead back to paths: a mapping starts where its first key does.
        assert_eq!(
            idx.path_of_key(Pos { line: 3, column: 3 }),
            Some(&p(&["systems", "app"])[..])
        );
        assert_eq!(
            idx.path_of_value(Pos { line: 4, column: 5 }),
            Some(&p(&["systems", "app"])[..])
        );
        assert_eq!(
            idx.path_of_key(Pos { line: 4, column: 5 }),
            Some(&p(&["systems", "app", "connector"])[..])
        );
        assert_eq!(idx.path_of_value(Pos { line: 1, column: 1 }), Some(&[][..]));
        // An unknown child falls back to its nearest known ancestor.
        assert_eq!(
            idx.key(&p(&["systems", "app", "nope"])),
            Some(Pos { line: 3, column: 3 })
        );
    }
}
