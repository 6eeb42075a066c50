//! The step every command runs on a playbook: the generic rules of `crate::playbook` and each
//! connector kind's checks of its own keys, together, so that the user sees every problem at
//! once. A playbook that passes both is [`Validated`]: each system with its kind's typed
//! configuration.

use super::{ConnectorKind, KindConfig};
use crate::playbook::check::Checker;
use crate::playbook::load::{self, Loaded};
use crate::playbook::validate::{self, KindRules, Kinds};
use crate::playbook::{Diagnostic, Diagnostics};
use std::collections::BTreeMap;
use std::path::Path;

/// A playbook that passed every check, each system with its kind's configuration.
pub type Validated = validate::Validated<KindConfig>;

/// The kinds as the generic rules see them.
struct Registry;

impl Kinds for Registry {
    fn rules(&self, connector: &str) -> Option<KindRules> {
        ConnectorKind::of_connector(connector).map(|k| KindRules {
            compares_columns: k.capabilities().compares_columns,
        })
    }

    fn names(&self) -> Vec<&'static str> {
        ConnectorKind::names()
    }
}

/// Checks `loaded`; with `secrets`, the variables and secret files it names must be available.
pub fn configure(loaded: Loaded, secrets: bool) -> Result<Validated, Diagnostics> {
    let mut c = Checker::new(&loaded, secrets);
    let generic = validate::check(&mut c, &Registry);
    let mut kinds = BTreeMap::new();
    for (name, sys) in &loaded.playbook.systems {
        if let Some(kind) = ConnectorKind::of_connector(&sys.connector)
            && let Some(config) = kind.configure(&mut c, name, sys)
        {
            kinds.insert(name.clone(), config);
        }
    }
    c.finish()?;
    let mut systems = BTreeMap::new();
    for (name, spec) in generic {
        let Some(kind) = kinds.remove(&name) else {
            // A kind that refused its keys without saying why: a bug, not silence.
            return Err(Diagnostics(vec![Diagnostic {
                file: loaded.display_path(),
                pos: loaded.spans.key(&["systems".to_string(), name.clone()]),
                field: format!("systems.{name}"),
                message: "the connector could not read this system's settings".into(),
                hint: None,
            }]));
        };
        systems.insert(name, spec.with_kind(kind));
    }
    Ok(Validated { loaded, systems })
}

/// Checks a whole playbook. Pure but for environment and secret-file existence checks.
pub fn validate(loaded: Loaded) -> Result<Validated, Diagnostics> {
    configure(loaded, true)
}

/// Checks a playbook for commands that read it but connect to nothing (`dsr map`) or to one
/// system only (`dsr discover --diff`): references must be well formed, but the variables
/// and secret files they name need not be available here.
pub fn validate_offline(loaded: Loaded) -> Result<Validated, Diagnostics> {
    configure(loaded, false)
}

/// Loads and validates in one step.
pub fn open(path: &Path) -> Result<Validated, Diagnostics> {
    validate(load::load(path)?)
}

/// Loads and validates without requiring the secrets it names (see [`validate_offline`]).
pub fn open_offline(path: &Path) -> Result<Validated, Diagnostics> {
    validate_offline(load::load(path)?)
}
