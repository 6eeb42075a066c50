//! Unit tests of the files connector.

use super::*;

fn rows(text: &[u8], format: FileFormat) -> Vec<(String, Row)> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    fs::write(&p, text).unwrap();
    let mut out = Vec::new();
    scan(
        &p,
        format,
        |_| true,
        |piece| {
            if let Piece::Row { raw, row } = piece {
                out.push((String::from_utf8_lossy(raw).into_owned(), row.unwrap()));
            }
            Ok(())
        },
    )
    .unwrap();
    out
}

#[test]
fn csv_records_keep_quoted_line_breaks_and_their_bytes() {
    let got = rows(
        b"id,note\r\n1,\"two\r\nlines, \"\"quoted\"\"\"\r\n\r\n2,plain\n3,last",
        FileFormat::Csv,
    );
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, "1,\"two\r\nlines, \"\"quoted\"\"\"\r\n");
    assert_eq!(got[0].1["note"], "two\r\nlines, \"quoted\"");
    assert_eq!(got[1].1["id"], "2");
    assert_eq!(got[2].0, "3,last");
    // The line ending is not part of the fingerprint.
    assert_eq!(fingerprint(b"3,last\r\n"), fingerprint(b"3,last"));
}

#[test]
fn the_prefilter_never_hides_a_row_that_matches() {
    let csv = prefilter(FileFormat::Csv, &["a@x".into()]);
    assert!(csv(b"1,a@x\n") && !csv(b"1,b@x\n"));
    let quoted = prefilter(FileFormat::Csv, &["say \"hi\"".into()]);
    assert!(
        quoted(b"anything"),
        "values CSV may write differently disable it"
    );
    let json = prefilter(FileFormat::Jsonl, &["zo\u{eb}@x".into()]);
    assert!(json(b"{\"e\":\"zo\\u00eb@x\"}"));
    let plain = prefilter(FileFormat::Jsonl, &["42".into()]);
    assert!(plain(b"{\"id\":42}") && !plain(b"{\"id\":7}"));
}

#[test]
fn a_fingerprint_still_names_its_row_after_lines_are_added_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = FilesConnector {
        root: dir.path().to_path_buf(),
        collections: BTreeMap::new(),
    };
    let drop: BTreeSet<String> = [fingerprint(b"2,a@x")].into_iter().collect();
    // The read phase saw "2,a@x" as the 2nd row; meanwhile rows were inserted above it.
    fs::write(
        dir.path().join("f.csv"),
        "id,email\n0,n@x\n9,m@x\n1,b@x\n2,a@x\n3,c@x\n",
    )
    .unwrap();
    assert_eq!(
        c.rewrite("f.csv", FileFormat::Csv, &drop).unwrap().removed,
        1
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("f.csv")).unwrap(),
        "id,email\n0,n@x\n9,m@x\n1,b@x\n3,c@x\n"
    );
}

#[test]
fn rewriting_drops_only_the_named_rows_and_keeps_every_other_byte() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"id,email\n\n1,a@x\n2,\"b\nb@x\"\n3,a@x\r\n4,c@x";
    fs::write(dir.path().join("f.csv"), text).unwrap();
    let c = FilesConnector {
        root: dir.path().to_path_buf(),
        collections: BTreeMap::new(),
    };
    let drop: BTreeSet<String> = [fingerprint(b"1,a@x"), fingerprint(b"3,a@x")]
        .into_iter()
        .collect();
    let record = c.rewrite("f.csv", FileFormat::Csv, &drop).unwrap();
    let after = b"id,email\n\n2,\"b\nb@x\"\n4,c@x";
    assert_eq!(record.removed, 2);
    assert_eq!(fs::read(dir.path().join("f.csv")).unwrap(), after);
    // The record's hashes and sizes are those of the whole file before and after.
    assert_eq!(record.sha256_before, hex::encode(Sha256::digest(text)));
    assert_eq!(record.sha256_after, hex::encode(Sha256::digest(after)));
    assert_eq!(
        (record.bytes_before, record.bytes_after),
        (text.len() as u64, after.len() as u64)
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    assert_eq!(
        c.rewrite("f.csv", FileFormat::Csv, &drop).unwrap().removed,
        0
    );
}

#[test]
fn globs_stay_inside_and_never_follow_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("u/42/sub")).unwrap();
    fs::write(root.join("u/42/a.txt"), "a").unwrap();
    fs::write(root.join("u/42/sub/b.txt"), "b").unwrap();
    fs::write(root.join("u/420.txt"), "no").unwrap();
    fs::write(dir.path().join("outside.txt"), "secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("u/42/link.txt"))
        .unwrap();
    let got = glob_files(&root, "u/42/*").unwrap();
    assert_eq!(
        got,
        [PathBuf::from("u/42/a.txt"), PathBuf::from("u/42/sub/b.txt")]
    );
    assert_eq!(glob_files(&root, "u/42").unwrap().len(), 2);
    assert!(glob_files(&root, "u/4\\*").unwrap().is_empty());
    assert!(!path_safe("..") && !path_safe("a/b") && path_safe("a@b.c"));
    assert!(check_relative("../x").is_some() && check_relative("/etc").is_some());
    assert!(check_relative("uploads/{user_id}/*").is_none());
}
