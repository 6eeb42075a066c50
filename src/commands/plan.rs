use crate::cli::{Global, Subject};
use crate::connectors::Validated;
use crate::erase::rules::{self, Rule};
use crate::error::{Exit, UsageError};
use crate::identity;
use crate::output::tables;
use crate::plan::{self, Action};
use crate::playbook::{CollectionId, EraseStrategy};
use std::collections::BTreeMap;

pub fn run(
    global: &Global,
    action: Action,
    subject: &Subject,
    sets: &[String],
) -> anyhow::Result<Exit> {
    if !sets.is_empty() && action != Action::Correct {
        return Err(UsageError::new(format!(
            "--set is for `dsr plan correct`, not {}",
            action.name()
        ))
        .with_hint("leave --set out, or plan a correction")
        .into());
    }
    let v = super::open_playbook(global, None)?;
    let ids = identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    let plan = plan::build(&v, action, &ids);
    let changes = changes(&v, action, sets)?;
    if global.json {
        let mut out = serde_json::to_value(&plan)?;
        if let (Some((_, changes)), Some(steps)) = (&changes, out["steps"].as_array_mut()) {
            for (step, s) in steps.iter_mut().zip(&plan.steps) {
                step["change"] = changes.get(&s.id).cloned().into();
            }
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let column = changes.as_ref().map(|(h, c)| (*h, c));
        println!("{}", tables::plan_with(&plan, column));
        let waves = plan.steps.iter().map(|s| s.wave).max().unwrap_or(0);
        println!(
            "{} steps in {waves} waves; nothing was run.",
            plan.steps.len()
        );
        if action == Action::Correct && sets.is_empty() && !global.quiet {
            println!("Add --set TARGET=VALUE to see which columns each step would set.");
        }
    }
    Ok(Exit::Done)
}

type Changes = BTreeMap<CollectionId, String>;

/// What each collection's step would do to the records it finds, in words, with the column's
/// header: the erase strategy, or the columns a correction sets.
fn changes(
    v: &Validated,
    action: Action,
    sets: &[String],
) -> Result<Option<(&'static str, Changes)>, UsageError> {
    match action {
        Action::Export => Ok(None),
        Action::Erase => {
            // A collection without a strategy is shown, not refused: the plan is where a
            // missing one is seen before `dsr erase` stops on it.
            let strategies = v
                .systems
                .values()
                .flat_map(|s| s.collections.values())
                .map(|c| {
                    let text = match &c.erase {
                        None => "no `erase:` strategy".to_string(),
                        Some(EraseStrategy::Keep { because }) => format!("keep: {because}"),
                        Some(
                            mask @ EraseStrategy::Mask {
                                because: Some(because),
                                ..
                            },
                        ) => format!("{mask}\n{because}"),
                        Some(s) => s.to_string(),
                    };
                    (c.id.clone(), text)
                })
                .collect();
            Ok(Some(("on erase", strategies)))
        }
        Action::Correct if sets.is_empty() => Ok(None),
        Action::Correct => {
            let rules = rules::for_correct(v, &rules::parse_assignments(sets)?)?;
            let sets = rules
                .into_iter()
                .map(|(id, rule)| {
                    let text = match rule {
                        Rule::Pass => "— (read to follow the matches)".to_string(),
                        r => r.describe(),
                    };
                    (id, text)
                })
                .collect();
            Ok(Some(("sets", sets)))
        }
    }
}
