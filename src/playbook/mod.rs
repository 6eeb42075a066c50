//! Playbooks: the YAML files that list every system holding customer data, what each field
//! is, why it is kept, and how a request reaches it.
//!
//! `load` reads and parses, `validate` checks and resolves references, `model` is the file's
//! shape, `interpolate` resolves `${env:…}`/`${file:…}` secrets, `spans` maps field paths to
//! lines so every error points into the file. `live` checks a playbook against the systems
//! (`validate --connect`), and `partial_keys` compares matches with the keys they declare.

pub mod diagnostic;
#[doc(hidden)]
pub mod fuzzing;
pub mod interpolate;
pub mod live;
pub mod load;
pub mod model;
pub mod partial_keys;
pub mod spans;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use validate::{
    CollectionId, CollectionSpec, EraseStrategy, MatchTerm, Source, SystemSpec, Validated,
};

use std::path::Path;

/// Where editors find the JSON Schema of playbooks (`schemas/playbook.schema.json` in the
/// repository), named in the first line of the playbooks dsr writes:
/// `# yaml-language-server: $schema=…`.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/acme/dsr/main/schemas/playbook.schema.json";

/// The first line of a playbook dsr writes, pointing editors at the schema.
pub fn schema_comment() -> String {
    format!("# yaml-language-server: $schema={SCHEMA_URL}")
}

/// Loads and validates in one step.
pub fn open(path: &Path) -> Result<Validated, Diagnostics> {
    validate::validate(load::load(path)?)
}

/// Loads and validates without requiring the secrets it names (see
/// [`validate::validate_offline`]).
pub fn open_offline(path: &Path) -> Result<Validated, Diagnostics> {
    validate::validate_offline(load::load(path)?)
}
