//! Whether a mask can work on the column it names: the value it writes must be one the column
//! holds, and must read back exactly as written, or verification fails on every run. Checked
//! against the live columns by `dsr validate --connect` and by `dsr erase` before it reads or
//! writes anything.

use super::mask::{self, Method};
use super::rules::method_name;
use crate::connectors::{ColumnInfo, ColumnKind};

/// A mask the column cannot take, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    pub column: String,
    pub message: String,
    pub hint: String,
}

/// Characters in a `hash` mask's value (hex HMAC-SHA256).
const HASH_LEN: usize = 64;

/// The masks among `masks` that cannot work on the collection's `columns`, whose records are
/// addressed by `key`. Columns the table does not have are left to the column check.
pub fn check(masks: &[(String, Method)], columns: &[ColumnInfo], key: &[String]) -> Vec<Unfit> {
    let mut out = Vec::new();
    for (name, method) in masks {
        let Some(column) = columns.iter().find(|c| &c.name == name) else {
            continue;
        };
        let head = format!(
            "cannot mask column '{name}' ({}) with {}",
            column.declared,
            method_name(*method)
        );
        if key.contains(name) {
            // The write addresses the record by its key and verification looks it up again by
            // the same key: once the key is masked, that lookup finds nothing, on every run.
            out.push(Unfit {
                column: name.clone(),
                message: format!(
                    "{head}: it is part of the key that finds the record again ({}), and verification would look the record up by a value it no longer has",
                    key.join(", ")
                ),
                hint: "leave key columns unmasked, or erase the record with `erase: delete`"
                    .into(),
            });
            continue;
        }
        if let Err(why) = fits(*method, column) {
            out.push(Unfit {
                column: name.clone(),
                message: format!("{head}: {why}"),
                hint: hint(column),
            });
        }
    }
    out
}

/// Characters a `random` value may have: an email becomes 12 letters and digits at
/// `example.invalid`.
const RANDOM_EMAIL_LEN: u64 = 28;

/// Whether a method that `fits` is worth suggesting: it fits whatever the column holds.
fn suggest(method: Method, column: &ColumnInfo) -> bool {
    match (method, column.kind) {
        // Only helps where dates are kept (on text it turns anything else into NULL).
        (Method::TruncateDate, kind) => kind == ColumnKind::Date,
        // Random text is as long as the old value but at least 8 characters, or an email
        // address: a short or padded column takes it only for some values.
        (Method::Random, ColumnKind::Text { max, padded }) => {
            !padded && max.is_none_or(|m| m >= RANDOM_EMAIL_LEN)
        }
        _ => true,
    }
}

/// What to write instead: the masks that fit the column.
fn hint(column: &ColumnInfo) -> String {
    let fitting: Vec<&str> = mask::Method::ALL
        .into_iter()
        .filter(|m| suggest(*m, column))
        .filter(|m| fits(*m, column).is_ok())
        .map(method_name)
        .collect();
    if fitting.is_empty() {
        "no mask fits this column: leave it out of `mask`, or erase the record with `erase: delete`"
            .into()
    } else {
        format!("masks that fit this column: {}", fitting.join(", "))
    }
}

/// Whether `method`'s values can be written to `column` and read back as written; the reason
/// when not.
pub fn fits(method: Method, column: &ColumnInfo) -> Result<(), String> {
    // A NULL value stays NULL under every method (see `mask::apply`), so NOT NULL matters
    // only to `null` itself.
    let (what, len, plural) = match method {
        Method::Null if column.nullable => return Ok(()),
        Method::Null => return Err("the column is NOT NULL".into()),
        Method::Redact => (
            format!("the text '{}'", mask::REDACTED),
            Some(mask::REDACTED.chars().count()),
            false,
        ),
        Method::Hash => (
            format!("a {HASH_LEN}-character hash"),
            Some(HASH_LEN),
            false,
        ),
        Method::Random => ("random letters and digits".to_string(), None, true),
        Method::TruncateDate => ("a date".to_string(), None, false),
    };
    let is = if plural { "are" } else { "is" };
    let not = |noun: &str| Err(format!("{what} {is} not {noun}"));
    match column.kind {
        ColumnKind::Text { max, padded } => match (len, max) {
            (Some(len), Some(max)) if padded && len as u64 != max => Err(format!(
                "the column pads every value to {max} characters, so {what} would not read back as written"
            )),
            (Some(len), Some(max)) if len as u64 > max => Err(format!(
                "{what} {is} {len} characters and the column holds at most {max}"
            )),
            _ => Ok(()),
        },
        ColumnKind::Date if method == Method::TruncateDate => Ok(()),
        ColumnKind::Date => not("a date"),
        // Random digits keep the old value's length, but a number drops leading zeros (and a
        // decimal or a negative number turns into letters): what is read back would differ.
        ColumnKind::Number if method == Method::Random => Err(
            "random digits lose their leading zeros in a number column (and other random text is not a number), so the value read back would not match the one written".into(),
        ),
        ColumnKind::Number => not("a number"),
        ColumnKind::LooseNumber if method == Method::Random => Err(
            "SQLite stores random digits in this column as a number, which loses their leading zeros, so the value read back would not match the one written".into(),
        ),
        ColumnKind::LooseNumber => Ok(()),
        ColumnKind::Boolean => not("true or false"),
        ColumnKind::Uuid => not("a uuid"),
        ColumnKind::Json => not("valid JSON"),
        ColumnKind::Bytes => Err(format!(
            "{what} would be stored as bytes, which read back as hex, never as the value written"
        )),
        ColumnKind::Enum => not("one of the column's labels"),
        ColumnKind::Array => not("an array"),
        ColumnKind::Other => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: ColumnKind, nullable: bool) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            declared: "t".into(),
            kind,
            nullable,
        }
    }

    fn text(max: Option<u64>, padded: bool) -> ColumnKind {
        ColumnKind::Text { max, padded }
    }

    #[test]
    fn text_takes_every_mask_that_fits_its_length() {
        let open = column(text(None, false), true);
        for m in Method::ALL {
            assert_eq!(fits(m, &open), Ok(()), "{m:?}");
        }
        let short = column(text(Some(9), false), true);
        assert!(fits(Method::Redact, &short).is_err());
        assert!(fits(Method::Hash, &column(text(Some(63), false), true)).is_err());
        assert_eq!(
            fits(Method::Hash, &column(text(Some(64), false), true)),
            Ok(())
        );
        // Random digits keep the old value's length, so a short column may still take them.
        assert_eq!(fits(Method::Random, &short), Ok(()));
        let padded = column(text(Some(12), true), true);
        assert!(fits(Method::Redact, &padded).unwrap_err().contains("pads"));
        assert_eq!(
            fits(Method::Redact, &column(text(Some(10), true), true)),
            Ok(())
        );
    }

    #[test]
    fn typed_columns_refuse_text() {
        for kind in [
            ColumnKind::Number,
            ColumnKind::Uuid,
            ColumnKind::Json,
            ColumnKind::Bytes,
            ColumnKind::Boolean,
            ColumnKind::Enum,
            ColumnKind::Array,
        ] {
            let c = column(kind, true);
            for m in [
                Method::Redact,
                Method::Hash,
                Method::Random,
                Method::TruncateDate,
            ] {
                assert!(fits(m, &c).is_err(), "{kind:?} {m:?}");
            }
            assert_eq!(fits(Method::Null, &c), Ok(()));
        }
        let date = column(ColumnKind::Date, false);
        assert_eq!(fits(Method::TruncateDate, &date), Ok(()));
        assert!(fits(Method::Redact, &date).is_err());
        let loose = column(ColumnKind::LooseNumber, true);
        assert_eq!(fits(Method::Redact, &loose), Ok(()));
        assert!(fits(Method::Random, &loose).is_err());
        assert_eq!(fits(Method::Hash, &column(ColumnKind::Other, true)), Ok(()));
    }

    #[test]
    fn not_null_and_key_columns_are_refused_with_what_fits_instead() {
        let mut email = column(text(None, false), false);
        email.name = "email".into();
        let mut id = column(ColumnKind::Number, false);
        id.name = "id".into();
        let mut token = column(ColumnKind::Uuid, false);
        token.name = "token".into();
        let masks = [
            ("email".to_string(), Method::Null),
            ("id".to_string(), Method::Null),
            ("token".to_string(), Method::Redact),
            ("gone".to_string(), Method::Redact),
        ];
        let found = check(&masks, &[email, id, token], &["id".to_string()]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(
            found[0].message,
            "cannot mask column 'email' (t) with null: the column is NOT NULL"
        );
        assert_eq!(
            found[0].hint,
            "masks that fit this column: redact, hash, random"
        );
        assert!(found[1].message.contains("part of the key"), "{found:?}");
        assert!(found[1].hint.contains("erase: delete"));
        assert_eq!(
            found[2].message,
            "cannot mask column 'token' (t) with redact: the text '[redacted]' is not a uuid"
        );
        assert!(found[2].hint.starts_with("no mask fits"), "{found:?}");
    }
}
