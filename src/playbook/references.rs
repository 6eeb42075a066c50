//! References between collections: each `match` reference resolved to an identity or to what
//! another collection provides, grouped into the conditions a find uses, and the identity
//! graph checked for cycles.

use super::check::Checker;
use super::diagnostic::did_you_mean;
use super::model::{self, MatchCase};
use super::spec::{CollectionId, CollectionSpec, Input, Kinds, MatchTerm, Source, SystemSpec};
use std::collections::{BTreeMap, BTreeSet};

/// What a reference string names before it is checked against the playbook.
enum RawRef<'a> {
    Identity(&'a str),
    Local {
        collection: &'a str,
        name: &'a str,
    },
    Qualified {
        system: &'a str,
        collection: &'a str,
        name: &'a str,
    },
}

fn parse_ref(s: &str) -> Option<RawRef<'_>> {
    match s.trim().split('.').collect::<Vec<_>>().as_slice() {
        ["identity", kind] => Some(RawRef::Identity(kind)),
        [coll, name] => Some(RawRef::Local {
            collection: coll,
            name,
        }),
        [sys, coll, name] => Some(RawRef::Qualified {
            system: sys,
            collection: coll,
            name,
        }),
        _ => None,
    }
}

pub(super) fn resolve_references(
    c: &mut Checker<'_>,
    kinds: &dyn Kinds,
    systems: &mut BTreeMap<String, SystemSpec>,
) {
    let pb = &c.loaded.playbook;
    // Every collection of the playbook, also those with other errors, so references to them
    // do not produce follow-on noise.
    let all: BTreeMap<CollectionId, &model::Collection> = pb
        .systems
        .iter()
        .flat_map(|(s, sys)| {
            sys.collections.iter().map(move |(n, coll)| {
                (
                    CollectionId {
                        system: s.clone(),
                        collection: n.clone(),
                    },
                    coll,
                )
            })
        })
        .collect();
    let identities: Vec<&str> = pb.identities.iter().map(String::as_str).collect();
    for (sys_name, sys) in &pb.systems {
        // Systems with errors of their own have no spec: their kind-specific checks wait.
        let kind = systems
            .contains_key(sys_name)
            .then(|| kinds.rules(&sys.connector))
            .flatten();
        let sql = kind.is_some_and(|k| k.compares_columns);
        if sys.match_case.is_some() && !sql && kind.is_some() {
            c.at_key(
                &["systems", sys_name.as_str(), "match_case"],
                "`match_case` applies to SQL systems (postgres, mysql, sqlite)",
                Some("identities reach other systems as given, with emails lower-cased".into()),
            );
        }
        for (coll_name, coll) in &sys.collections {
            let base = [
                "systems",
                sys_name.as_str(),
                "collections",
                coll_name.as_str(),
            ];
            if coll.match_case.is_some() && !sql && kind.is_some() {
                let mut p = base.to_vec();
                p.push("match_case");
                c.at_key(
                    &p,
                    "`match_case` applies to SQL systems (postgres, mysql, sqlite)",
                    None,
                );
            }
            let case = coll.match_case.or(sys.match_case);
            let mut inputs = Vec::new();
            for (column, references) in &coll.match_on {
                let many = references.0.len() > 1;
                for (i, reference) in references.iter().enumerate() {
                    let index = i.to_string();
                    let mut path = base.to_vec();
                    path.extend(["match", column.as_str()]);
                    if many {
                        path.push(index.as_str());
                    }
                    if let Some(source) =
                        resolve_one(c, &path, sys_name, reference, &all, &identities)
                    {
                        if inputs
                            .iter()
                            .any(|i: &Input| i.column == *column && i.source == source)
                        {
                            c.at_value(
                                &path,
                                format!("'{reference}' is listed twice for '{column}'"),
                                Some("list each reference once".into()),
                            );
                            continue;
                        }
                        let fold_case = sql
                            && match &source {
                                Source::Identity(kind) => match case {
                                    Some(MatchCase::Insensitive) => true,
                                    Some(MatchCase::Exact) => false,
                                    None => kind == "email",
                                },
                                Source::Provided { .. } => false,
                            };
                        inputs.push(Input {
                            column: column.clone(),
                            source,
                            fold_case,
                        });
                    }
                }
            }
            let terms = match group_terms(&inputs) {
                Ok(terms) => terms,
                Err(problem) => {
                    let mut p = base.to_vec();
                    p.push("match");
                    c.at_key(&p, problem.message, Some(problem.hint));
                    Vec::new()
                }
            };
            if !sql
                && kind.is_some()
                && let Some(MatchTerm::Row { from, columns, .. }) =
                    terms.iter().find(|t| matches!(t, MatchTerm::Row { .. }))
            {
                let mut p = base.to_vec();
                p.push("match");
                c.at_key(
                    &p,
                    format!(
                        "{} match together on one row of {from}, which a {} system cannot do",
                        columns.join(", "),
                        sys.connector
                    ),
                    Some(
                        "match row by row in SQL systems only; here, match on one value that \
                         identifies the row (e.g. provide a single id)"
                            .into(),
                    ),
                );
            }
            if let Some(spec) = systems
                .get_mut(sys_name)
                .and_then(|s| s.collections.get_mut(coll_name))
            {
                spec.inputs = inputs;
                spec.terms = terms;
            }
        }
    }
}

/// Why a collection's `match` cannot be turned into conditions.
struct TermProblem {
    message: String,
    hint: String,
}

/// Groups a collection's resolved inputs into the conditions a find uses: the columns whose
/// references name one upstream collection match together, row by row; every other column
/// matches on its own (any of its references' values).
fn group_terms(inputs: &[Input]) -> Result<Vec<MatchTerm>, TermProblem> {
    let mut by_upstream: BTreeMap<&CollectionId, Vec<&Input>> = BTreeMap::new();
    let mut any: Vec<MatchTerm> = Vec::new();
    let mut add_any = |column: &str, source: &Source, fold_case: bool| {
        for t in &mut any {
            if let MatchTerm::Any {
                column: c,
                sources,
                fold_case: f,
            } = t
                && c == column
                && *f == fold_case
            {
                sources.push(source.clone());
                return;
            }
        }
        any.push(MatchTerm::Any {
            column: column.to_string(),
            sources: vec![source.clone()],
            fold_case,
        });
    };
    for input in inputs {
        match &input.source {
            Source::Identity(_) => add_any(&input.column, &input.source, input.fold_case),
            Source::Provided { from, .. } => by_upstream.entry(from).or_default().push(input),
        }
    }
    let mut rows = Vec::new();
    for (from, group) in by_upstream {
        let columns: BTreeSet<&str> = group.iter().map(|i| i.column.as_str()).collect();
        let names: BTreeSet<&str> = group
            .iter()
            .filter_map(|i| match &i.source {
                Source::Provided { name, .. } => Some(name.as_str()),
                Source::Identity(_) => None,
            })
            .collect();
        if columns.len() == 1 || names.len() == 1 {
            // One column taking several of the upstream's values, or several columns taking
            // the same value (a buyer or a seller): no key is split, so any of them.
            for i in &group {
                add_any(&i.column, &i.source, i.fold_case);
            }
        } else if columns.len() == group.len() && names.len() == group.len() {
            rows.push(MatchTerm::Row {
                from: from.clone(),
                columns: group.iter().map(|i| i.column.clone()).collect(),
                names: group
                    .iter()
                    .filter_map(|i| match &i.source {
                        Source::Provided { name, .. } => Some(name.clone()),
                        Source::Identity(_) => None,
                    })
                    .collect(),
            });
        } else {
            let cols: Vec<&str> = columns.into_iter().collect();
            return Err(TermProblem {
                message: format!(
                    "columns {} reference {from} in a way that is neither one key (each column a different value of one row) nor separate values: dsr cannot tell which of them match together",
                    cols.join(", ")
                ),
                hint: format!(
                    "reference {from} once per column (columns that reference one collection match together, row by row), or split the collection"
                ),
            });
        }
    }
    any.extend(rows);
    Ok(any)
}

fn resolve_one(
    c: &mut Checker<'_>,
    path: &[&str],
    here: &str,
    reference: &str,
    all: &BTreeMap<CollectionId, &model::Collection>,
    identities: &[&str],
) -> Option<Source> {
    let Some(raw) = parse_ref(reference) else {
        c.at_value(
            path,
            format!("'{reference}' is not a reference"),
            Some("write identity.KIND, COLLECTION.NAME or SYSTEM.COLLECTION.NAME".into()),
        );
        return None;
    };
    let (id, name) = match raw {
        RawRef::Identity(kind) => {
            if identities.contains(&kind) {
                return Some(Source::Identity(kind.to_string()));
            }
            let hint = match did_you_mean(kind, identities.iter().copied()) {
                Some(s) => format!("did you mean 'identity.{s}'?"),
                None => format!(
                    "declare it in `identities:` (now: {})",
                    identities.join(", ")
                ),
            };
            c.at_value(
                path,
                format!("identity kind '{kind}' is not declared"),
                Some(hint),
            );
            return None;
        }
        RawRef::Local { collection, name } => {
            let local = CollectionId {
                system: here.to_string(),
                collection: collection.to_string(),
            };
            if all.contains_key(&local) {
                (local, name)
            } else {
                let elsewhere: Vec<&CollectionId> = all
                    .keys()
                    .filter(|id| id.collection == collection)
                    .collect();
                match elsewhere.as_slice() {
                    [one] => ((*one).clone(), name),
                    [] => {
                        let names: Vec<&str> =
                            all.keys().map(|id| id.collection.as_str()).collect();
                        let hint =
                            did_you_mean(collection, names).map(|s| format!("did you mean '{s}'?"));
                        c.at_value(path, format!("unknown collection '{collection}'"), hint);
                        return None;
                    }
                    many => {
                        let opts: Vec<String> =
                            many.iter().map(|id| format!("{id}.{name}")).collect();
                        c.at_value(
                            path,
                            format!("collection '{collection}' exists in several systems"),
                            Some(format!("qualify it: {}", opts.join(" or "))),
                        );
                        return None;
                    }
                }
            }
        }
        RawRef::Qualified {
            system,
            collection,
            name,
        } => {
            let id = CollectionId {
                system: system.to_string(),
                collection: collection.to_string(),
            };
            if !all.keys().any(|k| k.system == system) {
                let names: BTreeSet<&str> = all.keys().map(|k| k.system.as_str()).collect();
                let hint = did_you_mean(system, names).map(|s| format!("did you mean '{s}'?"));
                c.at_value(path, format!("unknown system '{system}'"), hint);
                return None;
            }
            if !all.contains_key(&id) {
                let names: Vec<&str> = all
                    .keys()
                    .filter(|k| k.system == system)
                    .map(|k| k.collection.as_str())
                    .collect();
                let hint = did_you_mean(collection, names).map(|s| format!("did you mean '{s}'?"));
                c.at_value(
                    path,
                    format!("unknown collection '{collection}' in system '{system}'"),
                    hint,
                );
                return None;
            }
            (id, name)
        }
    };
    let provides = &all[&id].provides;
    if !provides.contains_key(name) {
        let hint = if provides.is_empty() {
            format!("add `provides: {{ {name}: COLUMN }}` to {id}")
        } else {
            let names: Vec<&str> = provides.keys().map(String::as_str).collect();
            match did_you_mean(name, names.iter().copied()) {
                Some(s) => format!("did you mean '{s}'? {id} provides: {}", names.join(", ")),
                None => format!("{id} provides: {}", names.join(", ")),
            }
        };
        c.at_value(path, format!("{id} does not provide '{name}'"), Some(hint));
        return None;
    }
    Some(Source::Provided {
        from: id,
        name: name.to_string(),
    })
}

/// Cycles in the identity graph, and collections that wait on one.
pub(super) fn check_graph(c: &mut Checker<'_>, systems: &BTreeMap<String, SystemSpec>) {
    let specs: BTreeMap<CollectionId, &CollectionSpec> = systems
        .values()
        .flat_map(|s| s.collections.values().map(|c| (c.id.clone(), c)))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = finished and acyclic, 3 = finished and blocked.
    let mut state: BTreeMap<CollectionId, u8> = BTreeMap::new();
    let mut reported: BTreeSet<Vec<CollectionId>> = BTreeSet::new();
    fn visit(
        id: &CollectionId,
        specs: &BTreeMap<CollectionId, &CollectionSpec>,
        state: &mut BTreeMap<CollectionId, u8>,
        stack: &mut Vec<CollectionId>,
        cycles: &mut Vec<Vec<CollectionId>>,
    ) -> bool {
        match state.get(id).copied().unwrap_or(0) {
            1 => {
                let start = stack.iter().position(|s| s == id).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(id.clone());
                cycles.push(cycle);
                return false;
            }
            2 => return true,
            3 => return false,
            _ => {}
        }
        let Some(spec) = specs.get(id) else {
            return true;
        };
        state.insert(id.clone(), 1);
        stack.push(id.clone());
        let mut ok = true;
        for up in spec.upstream() {
            ok &= visit(&up, specs, state, stack, cycles);
        }
        stack.pop();
        state.insert(id.clone(), if ok { 2 } else { 3 });
        ok
    }
    for id in specs.keys() {
        let mut cycles = Vec::new();
        let ok = visit(id, &specs, &mut state, &mut Vec::new(), &mut cycles);
        for cycle in cycles {
            let mut key = cycle[..cycle.len() - 1].to_vec();
            key.sort();
            if reported.insert(key) {
                let text: Vec<String> = cycle.iter().map(ToString::to_string).collect();
                let first = &cycle[0];
                c.at_key(
                    &["systems", &first.system, "collections", &first.collection, "match"],
                    format!("the identity graph has a cycle: {}", text.join(" → ")),
                    Some("one of these collections must match on an identity or on a collection outside the cycle".into()),
                );
            }
        }
        if !ok && !reported.iter().any(|r| r.contains(id)) {
            c.at_key(
                &[
                    "systems",
                    &id.system,
                    "collections",
                    &id.collection,
                    "match",
                ],
                "no identity can reach this collection: it waits on a cycle",
                None,
            );
        }
    }
}
