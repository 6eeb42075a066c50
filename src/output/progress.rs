//! Progress on stderr: one spinner per system, hidden when stderr is not a terminal or with
//! `--no-progress`.

use crate::plan::{Plan, Step};
use crate::run::{Observer, Status, StepOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

pub struct Progress {
    bars: BTreeMap<String, ProgressBar>,
    state: Mutex<BTreeMap<String, (usize, usize, u64, bool)>>, // finished, total, records, failed
}

impl Progress {
    pub fn new(plan: &Plan, enabled: bool) -> Self {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let style = ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut totals: BTreeMap<String, usize> = BTreeMap::new();
        for s in &plan.steps {
            *totals.entry(s.system.clone()).or_default() += 1;
        }
        let mut bars = BTreeMap::new();
        for (system, total) in &totals {
            let bar = multi.add(
                ProgressBar::new_spinner()
                    .with_style(style.clone())
                    .with_prefix(system.clone()),
            );
            bar.set_message(format!("waiting (0/{total})"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bars.insert(system.clone(), bar);
        }
        let state = totals
            .into_iter()
            .map(|(s, t)| (s, (0, t, 0, false)))
            .collect();
        Self {
            bars,
            state: Mutex::new(state),
        }
    }

    pub fn clear(&self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn started(&self, step: &Step) {
        if let Some(bar) = self.bars.get(&step.system) {
            bar.set_message(format!("reading {}…", step.collection));
        }
    }

    fn finished(&self, o: &StepOutcome) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(entry) = state.get_mut(&o.system) else {
            return;
        };
        entry.0 += 1;
        entry.2 += o.records;
        entry.3 |= o.status == Status::Failed;
        let (done, total, records, failed) = *entry;
        if let Some(bar) = self.bars.get(&o.system) {
            let word = if failed { "failed" } else { "done" };
            if done == total {
                bar.finish_with_message(format!("{word}: {records} records"));
            } else {
                bar.set_message(format!("{done}/{total} collections, {records} records"));
            }
        }
    }
}
