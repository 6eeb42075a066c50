use crate::cli::{Global, Subject};
use crate::error::Exit;
use crate::identity;
use crate::output::tables;
use crate::plan::{self, Action};

pub fn run(global: &Global, action: Action, subject: &Subject) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let ids = identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    let plan = plan::build(&v, action, &ids);
    if global.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        println!("{}", tables::plan(&plan));
        let waves = plan.steps.iter().map(|s| s.wave).max().unwrap_or(0);
        println!(
            "{} steps in {waves} waves; nothing was run.",
            plan.steps.len()
        );
    }
    Ok(Exit::Done)
}
