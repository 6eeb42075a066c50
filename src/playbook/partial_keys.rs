//! Matches that follow only part of a composite key (`dsr validate --connect`).
//!
//! A collection that matches `order_lines` on `num: orders.num` while the table's foreign key
//! is `(region, num)` reaches the lines of every order numbered like one of the person's, in
//! any region: other people's rows. The playbook is valid (the column exists, the query runs),
//! so this is a warning, worked out here from the tables' keys as the database declares them.
//! Pure: the caller reads the catalog.

use super::validate::{CollectionSpec, MatchTerm, Source};
use crate::discover::ForeignKey;

/// The keys between one collection's table and the table of a collection it matches on.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// Foreign keys from the collection's table to the upstream's.
    pub to_upstream: &'a [&'a ForeignKey],
    /// Foreign keys from the upstream's table to the collection's (the match follows one of
    /// these the other way round: the upstream holds the collection's key).
    pub from_upstream: &'a [&'a ForeignKey],
    /// The upstream table's primary key.
    pub upstream_primary: &'a [String],
}

/// One match that follows part of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialKey {
    /// The `match` entry to point at.
    pub column: String,
    pub message: String,
    pub hint: String,
}

/// One `match` entry that takes a value of the upstream: this table's column, the upstream's
/// column behind the provided name.
struct Pair<'a> {
    column: &'a str,
    upstream_column: &'a str,
}

fn list(columns: &[String]) -> String {
    columns.join(", ")
}

/// `a`, `a and b`, `a, b and c`.
fn words(columns: &[&str]) -> String {
    match columns {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The warnings for how `collection` matches `upstream` (a collection of the same system).
pub fn check(
    collection: &CollectionSpec,
    upstream: &CollectionSpec,
    keys: Keys<'_>,
) -> Vec<PartialKey> {
    let pairs: Vec<Pair<'_>> = collection
        .inputs
        .iter()
        .filter_map(|i| match &i.source {
            Source::Provided { from, name } if *from == upstream.id => {
                upstream.provides.get(name).map(|c| Pair {
                    column: i.column.as_str(),
                    upstream_column: c.as_str(),
                })
            }
            _ => None,
        })
        .collect();
    if pairs.is_empty() {
        return Vec::new();
    }
    // `group_terms` makes the entries that take the upstream's values one tuple or, when it
    // is not a key, each its own condition: never a mix.
    let together = collection
        .terms
        .iter()
        .any(|t| matches!(t, MatchTerm::Row { from, .. } if *from == upstream.id));
    let holds = |column: &str, upstream_column: &str| {
        pairs
            .iter()
            .any(|p| p.column == column && p.upstream_column == upstream_column)
    };
    let follows = |fk: &ForeignKey| {
        together
            && fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .all(|(c, r)| holds(c, r))
    };
    let target = &upstream.id.collection;
    let mut out = Vec::new();
    for fk in keys.to_upstream {
        if fk.columns.len() < 2 || fk.columns.len() != fk.ref_columns.len() || follows(fk) {
            continue;
        }
        let touched: Vec<&str> = fk
            .columns
            .iter()
            .map(String::as_str)
            .filter(|c| pairs.iter().any(|p| p.column == *c))
            .collect();
        let Some(first) = touched.first() else {
            // The match follows something else (another key, a plain column).
            continue;
        };
        let key = format!(
            "the foreign key ({}) references {} ({})",
            list(&fk.columns),
            fk.ref_table,
            list(&fk.ref_columns)
        );
        let mispaired = fk.columns.iter().zip(&fk.ref_columns).find_map(|(c, r)| {
            pairs
                .iter()
                .find(|p| p.column == c && p.upstream_column != r)
                .map(|p| (p, r))
        });
        let (column, message) = match mispaired {
            Some((p, r)) if together => (
                p.column,
                format!(
                    "matches {} with column {} of {target}, but {key} pairs {} with {r}",
                    p.column, p.upstream_column, p.column
                ),
            ),
            _ if touched.len() == fk.columns.len() => (
                *first,
                format!(
                    "matches {} each on its own, but they are one foreign key ({}) references {} ({}): \
                     rows that reference another {target} row with one of the same values are reached too",
                    words(&touched),
                    list(&fk.columns),
                    fk.ref_table,
                    list(&fk.ref_columns)
                ),
            ),
            _ => {
                let missing: Vec<&str> = fk
                    .columns
                    .iter()
                    .map(String::as_str)
                    .filter(|c| !touched.contains(c))
                    .collect();
                (
                    *first,
                    format!(
                        "matches on {} but not {} of {key}: rows that reference another {target} row \
                         with the same {} are reached too",
                        words(&touched),
                        words(&missing),
                        words(&touched)
                    ),
                )
            }
        };
        out.push(PartialKey {
            column: column.to_string(),
            message,
            hint: key_hint(upstream, fk),
        });
    }
    if !out.is_empty() || !together {
        return out;
    }
    // A tuple that follows no declared foreign key: compare it with the upstream's primary
    // key, unless it follows a key of the upstream that points here instead.
    let reversed = keys.from_upstream.iter().any(|fk| {
        fk.columns
            .iter()
            .zip(&fk.ref_columns)
            .all(|(u, c)| holds(c, u))
    });
    let primary = keys.upstream_primary;
    if primary.len() < 2 || reversed || keys.to_upstream.iter().any(|fk| follows(fk)) {
        return out;
    }
    let held: Vec<&str> = primary
        .iter()
        .map(String::as_str)
        .filter(|k| pairs.iter().any(|p| p.upstream_column == *k))
        .collect();
    let missing: Vec<&str> = primary
        .iter()
        .map(String::as_str)
        .filter(|k| !held.contains(k))
        .collect();
    let Some(first) = pairs.iter().find(|p| held.contains(&p.upstream_column)) else {
        return out;
    };
    if missing.is_empty() {
        return out;
    }
    let upstream_columns: Vec<&str> = pairs.iter().map(|p| p.upstream_column).collect();
    out.push(PartialKey {
        column: first.column.to_string(),
        message: format!(
            "matches ({}) of one {target} row, which holds {} but not {} of its primary key ({}): \
             unless those columns identify one {target} row, rows of other people may be reached too",
            upstream_columns.join(", "),
            words(&held),
            words(&missing),
            list(primary)
        ),
        hint: format!(
            "match every column of the primary key of {target} ({}) together{}",
            list(primary),
            provides_hint(upstream, primary)
        ),
    });
    out
}

/// The name `upstream` provides `column` under, if it does.
fn provided_name<'a>(upstream: &'a CollectionSpec, column: &str) -> Option<&'a str> {
    upstream
        .provides
        .iter()
        .find(|(_, c)| c.as_str() == column)
        .map(|(n, _)| n.as_str())
}

/// `, with `provides: { a: a }` on orders` for the columns `upstream` does not provide yet.
fn provides_hint(upstream: &CollectionSpec, columns: &[String]) -> String {
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| provided_name(upstream, c).is_none())
        .map(|c| format!("{c}: {c}"))
        .collect();
    if missing.is_empty() {
        String::new()
    } else {
        format!(
            ", with `provides: {{ {} }}` on {}",
            missing.join(", "),
            upstream.id.collection
        )
    }
}

/// The match that follows `fk`: each column with the upstream's value of the column it
/// references.
fn key_hint(upstream: &CollectionSpec, fk: &ForeignKey) -> String {
    let entries: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, r)| {
            let name = provided_name(upstream, r).unwrap_or(r);
            format!("{c}: {}.{name}", upstream.id.collection)
        })
        .collect();
    format!(
        "match every column of the key together: `match: {{ {} }}`{}",
        entries.join(", "),
        provides_hint(upstream, &fk.ref_columns)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::validate::Validated;

    fn playbook(order_lines_match: &str, provides: &str) -> Validated {
        let text = format!(
            "version: 1\norganisation: O\nidentities: [email]\nsystems:\n  app:\n    connector: sqlite\n    path: a.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n\
             \x20     orders:\n        match: {{ email: identity.email }}\n        provides: {provides}\n\
             \x20     order_lines:\n        match: {order_lines_match}\n"
        );
        let loaded =
            crate::playbook::load::parse(std::path::Path::new("pb.yaml"), &text).expect("parses");
        crate::playbook::validate::check_sql_only(loaded).expect("valid")
    }

    fn fk(columns: &[&str], ref_columns: &[&str]) -> ForeignKey {
        ForeignKey {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ref_table: "orders".into(),
            ref_columns: ref_columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn warnings(
        order_lines_match: &str,
        provides: &str,
        to: &[&ForeignKey],
        from: &[&ForeignKey],
        primary: &[&str],
    ) -> Vec<PartialKey> {
        let v = playbook(order_lines_match, provides);
        let sys = &v.systems["app"];
        let primary: Vec<String> = primary.iter().map(|c| c.to_string()).collect();
        check(
            &sys.collections["order_lines"],
            &sys.collections["orders"],
            Keys {
                to_upstream: to,
                from_upstream: from,
                upstream_primary: &primary,
            },
        )
    }

    const BOTH: &str = "{ region: region, num: num }";

    #[test]
    fn the_whole_key_together_is_right() {
        let key = fk(&["region", "num"], &["region", "num"]);
        let w = warnings(
            "{ region: orders.region, num: orders.num }",
            BOTH,
            &[&key],
            &[],
            &["region", "num"],
        );
        assert_eq!(w, []);
        // A single-column key, or a key the match does not touch, says nothing either.
        let single = fk(&["num"], &["num"]);
        assert_eq!(
            warnings("{ num: orders.num }", BOTH, &[&single], &[], &["num"]),
            []
        );
        let w = warnings(
            "{ num: orders.num }",
            "{ num: num, uid: user_id }",
            &[],
            &[],
            &[],
        );
        assert_eq!(w, []);
        let other = fk(&["region", "user_id"], &["region", "user_id"]);
        assert_eq!(
            warnings("{ num: orders.num }", BOTH, &[&other], &[], &["num"]),
            []
        );
    }

    #[test]
    fn part_of_a_foreign_key_is_named_with_the_match_that_follows_it() {
        let key = fk(&["tenant", "region", "num"], &["tenant", "region", "num"]);
        let w = warnings(
            "{ region: orders.region, num: orders.num }",
            BOTH,
            &[&key],
            &[],
            &["tenant", "region", "num"],
        );
        assert_eq!(
            w,
            [PartialKey {
                column: "region".into(),
                message: "matches on region and num but not tenant of the foreign key (tenant, region, num) references orders (tenant, region, num): rows that reference another orders row with the same region and num are reached too".into(),
                hint: "match every column of the key together: `match: { tenant: orders.tenant, region: orders.region, num: orders.num }`, with `provides: { tenant: tenant }` on orders".into(),
            }],
            "one warning: the foreign key's, not also the primary key's"
        );
    }

    #[test]
    fn a_key_the_upstream_holds_is_followed_the_other_way() {
        // orders (region, code) references order_lines: matching it back is not a partial
        // primary key of orders.
        let back = ForeignKey {
            columns: vec!["region".into(), "code".into()],
            ref_table: "order_lines".into(),
            ref_columns: vec!["region".into(), "code".into()],
        };
        let provides = "{ region: region, code: code }";
        let m = "{ region: orders.region, code: orders.code }";
        assert_eq!(warnings(m, provides, &[], &[&back], &["region", "num"]), []);
        let w = warnings(m, provides, &[], &[], &["region", "num"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].column, "region");
        assert_eq!(
            w[0].message,
            "matches (code, region) of one orders row, which holds region but not num of its primary key (region, num): unless those columns identify one orders row, rows of other people may be reached too"
        );
        assert_eq!(
            w[0].hint,
            "match every column of the primary key of orders (region, num) together, with `provides: { num: num }` on orders"
        );
    }

    #[test]
    fn words_join_like_a_sentence() {
        assert_eq!(words(&["a"]), "a");
        assert_eq!(words(&["a", "b"]), "a and b");
        assert_eq!(words(&["a", "b", "c"]), "a, b and c");
    }
}
