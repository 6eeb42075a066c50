//! How each table reaches a person. Pure.
//!
//! Tables reach a person through an email column (matched on `identity.email`) or through
//! foreign keys to a table that does, followed transitively. Links are chosen shortest path
//! first and never so that they form a cycle, because the playbook's identity graph must be
//! acyclic.

use super::catalog::Catalog;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A `match` through a foreign key: `columns` hold values of `ref_table`'s `ref_columns`,
/// paired by position. A key of several columns is matched as a whole, row by row: matching
/// its columns one by one would also take rows that share only part of the key (the lines of
/// another region's order 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl Link {
    /// (column, referenced column) pairs, in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .iter()
            .map(String::as_str)
            .zip(self.ref_columns.iter().map(String::as_str))
    }
}

/// How one table reaches a person, as [`routes`] works it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Foreign keys it is matched through, at most one per referenced table.
    pub links: Vec<Link>,
    /// Foreign keys into a table it is already matched through by another key (see
    /// `TableAnalysis::unfollowed`).
    pub unfollowed: Vec<Link>,
    /// Foreign keys through which the table reaches a person in fewest hops (0: through a
    /// column of its own); `None` when it does not.
    pub depth: Option<usize>,
    /// Other tables with foreign keys into this one.
    pub referenced_by: Vec<String>,
}

/// How every table of `catalog` reaches a person, in catalog order. `entry[i]` says whether
/// table `i` is matched on an identity through a column of its own (an email column).
pub fn routes(catalog: &Catalog, entry: &[bool]) -> Vec<Route> {
    let mut routes: Vec<Route> = catalog
        .tables
        .iter()
        .zip(entry)
        .map(|(t, &entry)| Route {
            depth: entry.then_some(0),
            referenced_by: catalog
                .tables
                .iter()
                .filter(|o| {
                    o.name != t.name && o.foreign_keys.iter().any(|fk| fk.ref_table == t.name)
                })
                .map(|o| o.name.clone())
                .collect(),
            ..Route::default()
        })
        .collect();
    let index: BTreeMap<&str, usize> = catalog
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    // Keys between different tables of this catalog, of one column or several: what a
    // `match` can follow. A key whose columns do not pair up with referenced ones (a catalog
    // the reader could not make sense of) is left out rather than guessed at.
    let edges: Vec<(usize, Link)> = catalog
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.foreign_keys
                .iter()
                .filter(move |fk| {
                    fk.ref_table != t.name
                        && !fk.columns.is_empty()
                        && fk.columns.len() == fk.ref_columns.len()
                })
                .map(move |fk| {
                    (
                        i,
                        Link {
                            columns: fk.columns.clone(),
                            ref_table: fk.ref_table.clone(),
                            ref_columns: fk.ref_columns.clone(),
                        },
                    )
                })
        })
        .filter(|(_, l)| index.contains_key(l.ref_table.as_str()))
        .collect();
    // Breadth first from the tables with an email column: shortest paths.
    let mut level = 0;
    loop {
        let mut next = Vec::new();
        for (i, l) in &edges {
            let r = index[l.ref_table.as_str()];
            if routes[*i].depth.is_none() && routes[r].depth == Some(level) {
                next.push(*i);
            }
        }
        if next.is_empty() {
            break;
        }
        level += 1;
        for i in next {
            routes[i].depth = Some(level);
        }
    }
    // Links: those that lead closer to a person first (they cannot form a cycle), then the
    // others where they do not close one.
    let mut candidates: Vec<(bool, usize, &Link)> = edges
        .iter()
        .filter_map(|(i, l)| {
            let r = index[l.ref_table.as_str()];
            match (routes[*i].depth, routes[r].depth) {
                (Some(d), Some(rd)) => Some((rd >= d, *i, l)),
                _ => None,
            }
        })
        .collect();
    // Of several keys into one table only one can be followed (see `unfollowed`): a key of
    // required columns first, since every row has an owner through it.
    let optional = |i: usize, l: &Link| {
        l.columns
            .iter()
            .any(|c| catalog.tables[i].column(c).is_none_or(|c| c.nullable))
    };
    candidates.sort_by(|a, b| {
        (
            a.0,
            &catalog.tables[a.1].name,
            optional(a.1, a.2),
            &a.2.columns,
        )
            .cmp(&(
                b.0,
                &catalog.tables[b.1].name,
                optional(b.1, b.2),
                &b.2.columns,
            ))
    });
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); routes.len()];
    for (_, i, l) in candidates {
        let r = index[l.ref_table.as_str()];
        if deps[i].contains(&r) {
            routes[i].unfollowed.push(l.clone());
            continue;
        }
        if reaches(&deps, r, i) {
            continue;
        }
        deps[i].insert(r);
        routes[i].links.push(l.clone());
    }
    routes
}

/// Whether `from` depends on `to` through the links chosen so far.
fn reaches(deps: &[BTreeSet<usize>], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if seen.insert(n) {
            stack.extend(deps[n].iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::Link;
    use crate::discover::catalog::testing::{catalog, table};
    use crate::discover::catalog::{Catalog, ForeignKey};
    use crate::discover::classify::{analyse, category};
    use std::collections::{BTreeMap, BTreeSet};

    fn shop() -> Catalog {
        catalog(vec![
            table(
                "addresses",
                &["id", "user_id", "street", "city"],
                &[("user_id", "users")],
            ),
            table(
                "audit_events",
                &["id", "user_id", "ip", "action"],
                &[("user_id", "users")],
            ),
            table(
                "order_items",
                &["id", "order_id", "product_id", "quantity"],
                &[("order_id", "orders"), ("product_id", "products")],
            ),
            table(
                "orders",
                &["id", "user_id", "total", "shipping_address_id"],
                &[("user_id", "users"), ("shipping_address_id", "addresses")],
            ),
            table("products", &["id", "sku", "name", "price"], &[]),
            table(
                "support_tickets",
                &["id", "user_id", "email", "subject", "body"],
                &[("user_id", "users")],
            ),
            table(
                "users",
                &["id", "email", "name", "default_address_id"],
                &[("default_address_id", "addresses")],
            ),
        ])
    }

    #[test]
    fn reaches_people_through_foreign_keys_without_cycles() {
        let a = analyse(&shop());
        let t = |n: &str| a.table(n).unwrap();
        assert_eq!(t("users").identity_columns, ["email"]);
        assert_eq!(t("users").depth, Some(0));
        assert!(
            t("users").links.is_empty(),
            "users -> addresses would close a cycle"
        );
        assert_eq!(t("addresses").depth, Some(1));
        assert_eq!(t("addresses").links[0].ref_table, "users");
        assert_eq!(t("order_items").depth, Some(2));
        assert_eq!(
            t("order_items").links.len(),
            1,
            "products is not a person's"
        );
        let orders: Vec<&str> = t("orders")
            .links
            .iter()
            .map(|l| l.ref_table.as_str())
            .collect();
        assert_eq!(orders, ["users", "addresses"]);
        let tickets = t("support_tickets");
        assert_eq!(tickets.identity_columns, ["email"]);
        assert_eq!(tickets.links[0].columns, ["user_id"]);
        assert_eq!(tickets.findings["body"].category, category::FREE_TEXT);
        assert!(!t("products").reachable());
        assert!(!t("products").has_personal_data());
        assert_eq!(
            t("users").referenced_by,
            ["addresses", "audit_events", "orders", "support_tickets"]
        );
        assert_eq!(
            a.provides("users"),
            BTreeMap::from([("user_id".to_string(), "id".to_string())])
        );
        assert_eq!(a.provides("products"), BTreeMap::new());
    }

    /// users <- orders (PK region, num) <- order_lines, whose key names the columns in the
    /// other order (num, region) and under other names.
    fn composite() -> Catalog {
        let mut orders = table(
            "orders",
            &["region", "num", "user_id"],
            &[("user_id", "users")],
        );
        orders.primary_key = vec!["region".into(), "num".into()];
        let mut lines = table("order_lines", &["line_no", "o_region", "o_num", "qty"], &[]);
        lines.foreign_keys.push(ForeignKey {
            columns: vec!["o_num".into(), "o_region".into()],
            ref_table: "orders".into(),
            ref_columns: vec!["num".into(), "region".into()],
        });
        catalog(vec![lines, orders, table("users", &["id", "email"], &[])])
    }

    #[test]
    fn composite_foreign_keys_are_followed_with_their_columns_paired() {
        let a = analyse(&composite());
        let lines = a.table("order_lines").unwrap();
        assert!(lines.reachable());
        assert_eq!(lines.depth, Some(2));
        assert_eq!(
            lines.links,
            [Link {
                columns: vec!["o_num".into(), "o_region".into()],
                ref_table: "orders".into(),
                ref_columns: vec!["num".into(), "region".into()],
            }]
        );
        assert_eq!(
            a.provides("orders"),
            BTreeMap::from([
                ("order_num".to_string(), "num".to_string()),
                ("order_region".to_string(), "region".to_string()),
            ])
        );
        assert_eq!(a.table("orders").unwrap().referenced_by, ["order_lines"]);
    }

    #[test]
    fn a_key_whose_columns_do_not_pair_up_is_not_followed() {
        let mut c = composite();
        c.tables[0].foreign_keys[0].ref_columns.pop();
        assert!(!analyse(&c).table("order_lines").unwrap().reachable());
    }

    #[test]
    fn one_key_per_referenced_table_the_others_are_noted() {
        // Two keys into addresses: in one collection their columns would be read as one
        // row-wise tuple (billing and shipping the same address), so only one is followed.
        let a = analyse(&catalog(vec![
            table(
                "addresses",
                &["id", "user_id", "street"],
                &[("user_id", "users")],
            ),
            table(
                "orders",
                &["id", "billing_address_id", "shipping_address_id"],
                &[
                    ("shipping_address_id", "addresses"),
                    ("billing_address_id", "addresses"),
                ],
            ),
            table("users", &["id", "email"], &[]),
        ]));
        let o = a.table("orders").unwrap();
        let cols: Vec<&[String]> = o.links.iter().map(|l| l.columns.as_slice()).collect();
        assert_eq!(cols, [["billing_address_id".to_string()]]);
        let other: Vec<&[String]> = o.unfollowed.iter().map(|l| l.columns.as_slice()).collect();
        assert_eq!(other, [["shipping_address_id".to_string()]]);
    }

    #[test]
    fn one_column_may_link_to_several_tables() {
        let mut profiles = table("profiles", &["user_id", "email"], &[]);
        profiles.primary_key = vec!["user_id".into()];
        let mut c = catalog(vec![
            table("notes", &["id", "user_id", "body"], &[("user_id", "users")]),
            profiles,
            table("users", &["id", "email"], &[]),
        ]);
        c.tables[0].foreign_keys.push(ForeignKey {
            columns: vec!["user_id".into()],
            ref_table: "profiles".into(),
            ref_columns: vec!["user_id".into()],
        });
        let a = analyse(&c);
        let targets: BTreeSet<&str> = a
            .table("notes")
            .unwrap()
            .links
            .iter()
            .map(|l| l.ref_table.as_str())
            .collect();
        assert_eq!(targets, BTreeSet::from(["profiles", "users"]));
    }

    #[test]
    fn personal_data_without_a_path_is_not_reachable() {
        let a = analyse(&catalog(vec![
            table("guests", &["id", "phone"], &[]),
            table("users", &["id", "email"], &[]),
        ]));
        let g = a.table("guests").unwrap();
        assert!(g.has_personal_data() && !g.reachable());
    }
}
