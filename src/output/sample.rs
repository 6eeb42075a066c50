//! The first records of a collection, for the person's index page, read back from the
//! bundle's `SYSTEM/COLLECTION.json`. Reading back (rather than keeping rows while writing)
//! leaves the streaming writer alone, and the reader keeps at most `cap` rows: an export of
//! millions of rows never sits in memory, the rest is only counted.

use crate::connectors::Row;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

/// How many records of one collection the index page shows; the files hold them all.
pub const PAGE_ROWS: usize = 100;

/// The first rows of a collection's file and how many the file holds in all.
#[derive(Debug, Default)]
pub struct Sample {
    pub rows: Vec<Row>,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a JSON array of records: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Up to `cap` records of the JSON array in `path`, and the count of all of them.
pub fn read(path: &Path, cap: usize) -> Result<Sample, SampleError> {
    let file = File::open(path).map_err(|source| SampleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, file));
    let json = |source| SampleError::Json {
        path: path.to_path_buf(),
        source,
    };
    let sample = (&mut de).deserialize_seq(Take(cap)).map_err(json)?;
    de.end().map_err(json)?;
    Ok(sample)
}

struct Take(usize);

impl<'de> Visitor<'de> for Take {
    type Value = Sample;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sample, A::Error> {
        let mut sample = Sample::default();
        while sample.rows.len() < self.0 {
            match seq.next_element::<Row>()? {
                Some(row) => sample.rows.push(row),
                None => break,
            }
        }
        sample.total = sample.rows.len() as u64;
        // Past the cap, each record is parsed and dropped, only to be counted.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            sample.total += 1;
        }
        Ok(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_rows_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let rows: Vec<String> = (0..250).map(|i| format!("{{\"n\":{i}}}")).collect();
        std::fs::write(&path, format!("[\n  {}\n]\n", rows.join(",\n  "))).unwrap();
        let s = read(&path, 100).unwrap();
        assert_eq!((s.rows.len(), s.total), (100, 250));
        assert_eq!(s.rows[99]["n"], 99);
        let all = read(&path, 1000).unwrap();
        assert_eq!((all.rows.len(), all.total), (250, 250));
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_short_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "[{\"n\":1},").unwrap();
        assert!(matches!(read(&path, 10), Err(SampleError::Json { .. })));
        assert!(matches!(
            read(&dir.path().join("none.json"), 10),
            Err(SampleError::Read { .. })
        ));
    }
}
