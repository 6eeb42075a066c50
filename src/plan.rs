//! The plan: a pure function from a validated playbook and a request to an ordered DAG of
//! steps. A step is one collection; it waits for the collections whose `provides` it matches
//! on. Steps in the same wave do not depend on each other and run at once.

use crate::connectors::ConnectorKind;
use crate::connectors::Validated;
use crate::identity::RequestIdentities;
use crate::playbook::{CollectionId, Source};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Export,
    Correct,
    Erase,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Export => "export",
            Action::Correct => "correct",
            Action::Erase => "erase",
        }
    }

    /// The action a ledger or journal row names.
    pub fn from_name(name: &str) -> Option<Self> {
        [Action::Export, Action::Correct, Action::Erase]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in execution order.
    pub index: usize,
    pub system: String,
    pub collection: String,
    pub connector: ConnectorKind,
    pub table: String,
    /// 1 for steps that need only the request's identities; n+1 for steps that wait on wave n.
    pub wave: usize,
    /// Each condition of the find: `column = source`, `column = any of …`, or
    /// `(a, b) = (x, y) of one SYSTEM.COLLECTION row` for columns that match together.
    pub matches: Vec<String>,
    pub waits_for: Vec<String>,
    /// Set when the step cannot run for this request (e.g. it needs an identity not given).
    pub skip: Option<String>,
    #[serde(skip)]
    pub id: CollectionId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub action: Action,
    pub identity_kinds: Vec<String>,
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn step(&self, id: &CollectionId) -> Option<&Step> {
        self.steps.iter().find(|s| &s.id == id)
    }
}

/// Builds the plan. Validation guarantees the graph is acyclic and every reference resolves.
pub fn build(v: &Validated, action: Action, ids: &RequestIdentities) -> Plan {
    let specs: BTreeMap<CollectionId, _> = v
        .systems
        .values()
        .flat_map(|s| s.collections.values().map(move |c| (c.id.clone(), (s, c))))
        .collect();
    let mut wave: BTreeMap<CollectionId, usize> = BTreeMap::new();
    let mut skip: BTreeMap<CollectionId, Option<String>> = BTreeMap::new();
    // Resolve in dependency order: repeat until every collection has a wave (acyclic graph).
    while wave.len() < specs.len() {
        let before = wave.len();
        for (id, (sys, spec)) in &specs {
            if wave.contains_key(id) {
                continue;
            }
            let ups = spec.upstream();
            if !ups.iter().all(|u| wave.contains_key(u)) {
                continue;
            }
            let w = ups.iter().map(|u| wave[u] + 1).max().unwrap_or(1);
            // A step runs when at least one of its inputs can yield values.
            let usable = spec.inputs.iter().any(|i| match &i.source {
                Source::Identity(kind) => !ids.get(kind).is_empty(),
                Source::Provided { from, .. } => skip.get(from).is_some_and(Option::is_none),
            });
            let reason = (!usable).then(|| {
                let needs: Vec<String> = spec
                    .inputs
                    .iter()
                    .map(|i| match &i.source {
                        Source::Identity(kind) => format!("identity.{kind} (not given)"),
                        Source::Provided { from, .. } => format!("{from} (skipped)"),
                    })
                    .collect();
                format!("needs {}", needs.join(" or "))
            });
            let reason = if action != Action::Correct || sys.kind.capabilities().correct {
                reason
            } else {
                Some(format!(
                    "the {} connector cannot {}",
                    sys.kind.name(),
                    action.name()
                ))
            };
            wave.insert(id.clone(), w);
            skip.insert(id.clone(), reason);
        }
        if wave.len() == before {
            break; // unreachable for validated playbooks; avoids spinning on a bad graph
        }
    }
    let mut order: Vec<&CollectionId> = specs.keys().collect();
    order.sort_by_key(|id| (wave.get(*id).copied().unwrap_or(usize::MAX), (*id).clone()));
    let steps = order
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let (sys, spec) = specs[id];
            Step {
                index: i + 1,
                system: id.system.clone(),
                collection: id.collection.clone(),
                connector: sys.kind.kind(),
                table: sys.kind.location_of(&spec.id.collection),
                wave: wave.get(id).copied().unwrap_or(0),
                matches: spec.terms.iter().map(ToString::to_string).collect(),
                waits_for: spec.upstream().iter().map(ToString::to_string).collect(),
                skip: skip.get(id).cloned().flatten(),
                id: id.clone(),
            }
        })
        .collect();
    Plan {
        action,
        identity_kinds: ids.kinds().into_iter().map(String::from).collect(),
        steps,
    }
}
