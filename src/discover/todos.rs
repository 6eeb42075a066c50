//! What a draft left for a person to write: values that still say `TODO`.

use crate::connectors::Validated;
use crate::playbook::EraseStrategy;

/// Values a person still has to write (a draft from `dsr discover` says `TODO: …`): valid,
/// but not an answer anyone should send to a data subject.
pub fn find(v: &Validated) -> Vec<String> {
    let is_todo = |s: &str| s.trim_start().starts_with(super::draft::TODO);
    let pb = &v.loaded.playbook;
    let mut out = Vec::new();
    if is_todo(&pb.organisation) {
        out.push("organisation".to_string());
    }
    if pb.automated_decisions.as_deref().is_some_and(is_todo) {
        out.push("automated_decisions".to_string());
    }
    for (name, sys) in &pb.systems {
        for (key, value) in [
            ("purpose", Some(&sys.purpose)),
            ("retention", Some(&sys.retention)),
            ("description", sys.description.as_ref()),
            ("source", sys.source.as_ref()),
            ("transfers", sys.transfers.as_ref()),
            ("safeguards", sys.safeguards.as_ref()),
        ] {
            if value.is_some_and(|t| is_todo(t)) {
                out.push(format!("systems.{name}.{key}"));
            }
        }
        for (coll, spec) in &v.systems[name].collections {
            let because = match &spec.erase {
                Some(EraseStrategy::Keep { because }) => Some(because),
                Some(EraseStrategy::Mask { because, .. }) => because.as_ref(),
                _ => None,
            };
            if because.is_some_and(|b| b.contains(super::draft::TODO)) {
                out.push(format!("systems.{name}.collections.{coll}.erase.because"));
            }
        }
    }
    out
}
