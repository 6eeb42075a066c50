//! Playbooks: the YAML files that list every system holding customer data, what each field
//! is, why it is kept, and how a request reaches it.
//!
//! `load` reads and parses, `validate` runs the rules every playbook follows (with
//! `references` resolving `match` references and checking the identity graph) into the `spec`
//! types, `model` is the file's shape, `settings` keeps each connector kind's own keys
//! until the kind reads them, `check` is where every rule reports, `interpolate` resolves
//! `${env:…}`/`${file:…}` secrets, `spans` maps field paths to lines so every error points
//! into the file, and `partial_keys` compares matches with the keys they declare.
//!
//! This layer knows no connector kind: the connectors layer's `configure` step combines its
//! rules with each kind's checks of its own keys.

pub mod check;
pub mod diagnostic;
pub mod interpolate;
pub mod load;
pub mod model;
pub mod partial_keys;
mod references;
pub mod settings;
pub mod spans;
pub mod spec;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use validate::{
    CollectionId, CollectionSpec, EraseStrategy, KindRules, Kinds, MatchTerm, Source,
};

/// Where editors find the JSON Schema of playbooks (`schemas/playbook.schema.json` in the
/// repository), named in the first line of the playbooks dsr writes:
/// `# yaml-language-server: $schema=…`.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/acme/dsr/main/schemas/playbook.schema.json";

/// The first line of a playbook dsr writes, pointing editors at the schema.
pub fn schema_comment() -> String {
    format!("# yaml-language-server: $schema={SCHEMA_URL}")
}
