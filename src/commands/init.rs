//! `dsr init`: a first playbook, from flags or by asking on a terminal.
//!
//! Every database URL goes into an environment variable, never into the file: the playbook
//! says `url: ${env:VAR}` and init tells the user which VAR to set. A database that can be
//! read now gets its tables drafted by discover; one that cannot gets one placeholder
//! collection, so the file still passes `dsr validate`.

use crate::cli::{Global, InitArgs};
use crate::discover::catalog::{Dialect, ReadOptions};
use crate::discover::{classify, draft};
use crate::error::{Exit, UsageError};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long init waits for a database before writing a placeholder instead.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Mistakes in what `dsr init` was given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error("--system '{0}' is not NAME=URL")]
    NotNameUrl(String),
    #[error("'{0}' is not a valid system name")]
    BadName(String),
    #[error("system '{0}' is given twice")]
    Duplicate(String),
    #[error("system '{name}': '{scheme}' is not a database dsr init can set up")]
    Unsupported { name: String, scheme: String },
    #[error("system '{name}': environment variable {var} is not set")]
    UnsetVar { name: String, var: String },
    #[error("'{0}' is not an environment variable name")]
    BadVar(String),
}

impl InitError {
    fn hint(&self) -> String {
        match self {
            Self::NotNameUrl(_) => {
                "write e.g. --system app_db=postgres://app@db.internal/shop or --system app_db='${env:APP_DB_URL}'".into()
            }
            Self::BadName(_) => "use letters, digits, '_' and '-'".into(),
            Self::Duplicate(_) => "give each system its own name".into(),
            Self::Unsupported { .. } => "use postgres://…, mysql://…, mariadb://… or sqlite:PATH (SaaS systems: see `dsr connectors list`)".into(),
            Self::UnsetVar { name, var } => format!(
                "export {var}=… first, or write --system {name}=postgres (or mysql, sqlite) to start without reading the database"
            ),
            Self::BadVar(_) => "letters, digits and '_', not starting with a digit".into(),
        }
    }
}

impl From<InitError> for UsageError {
    fn from(e: InitError) -> Self {
        let hint = e.hint();
        UsageError::new(e.to_string()).with_hint(hint)
    }
}

/// One system to write: its name, kind, the variable its URL lives in, and the URL when it
/// is known now (to draft its tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemChoice {
    pub name: String,
    pub dialect: Dialect,
    pub var: String,
    pub url: Option<String>,
    /// Whether the URL came from the command line itself (so the user must still set `var`).
    pub inline: bool,
}

/// A system name as the playbook allows it.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_var(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variable named by `${env:VAR}`, if `s` is exactly such a reference.
fn env_reference(s: &str) -> Option<&str> {
    s.strip_prefix("${env:")?.strip_suffix('}')
}

/// The variable a system's URL is read from: `app_db` → `APP_DB_URL`.
pub fn default_var(name: &str) -> String {
    draft::url_var(&name.replace('-', "_"))
}

fn dialect_of_kind(kind: &str) -> Option<Dialect> {
    match kind.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Some(Dialect::Postgres),
        "mysql" | "mariadb" => Some(Dialect::Mysql),
        "sqlite" => Some(Dialect::Sqlite),
        _ => None,
    }
}

/// `NAME=URL`, `NAME=${env:VAR}` or `NAME=KIND`. `env` looks variables up.
pub fn parse_system(
    arg: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SystemChoice, InitError> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| InitError::NotNameUrl(arg.to_string()))?;
    let (name, value) = (name.trim(), value.trim());
    if !is_name(name) {
        return Err(InitError::BadName(name.to_string()));
    }
    if value.is_empty() {
        return Err(InitError::NotNameUrl(arg.to_string()));
    }
    let unsupported = |scheme: &str| InitError::Unsupported {
        name: name.to_string(),
        scheme: scheme.chars().take(20).collect(),
    };
    if let Some(var) = env_reference(value) {
        if !is_var(var) {
            return Err(InitError::BadVar(var.to_string()));
        }
        let url = env(var).ok_or_else(|| InitError::UnsetVar {
            name: name.to_string(),
            var: var.to_string(),
        })?;
        let dialect = Dialect::from_url(&url)
            .map_err(|_| unsupported(url.split(':').next().unwrap_or("")))?;
        return Ok(SystemChoice {
            name: name.to_string(),
            dialect,
            var: var.to_string(),
            url: Some(url),
            inline: false,
        });
    }
    if let Some(dialect) = dialect_of_kind(value) {
        return Ok(SystemChoice {
            name: name.to_string(),
            dialect,
            var: default_var(name),
            url: None,
            inline: false,
        });
    }
    if !value.contains(':') {
        return Err(unsupported(value));
    }
    let dialect =
        Dialect::from_url(value).map_err(|_| unsupported(value.split(':').next().unwrap_or("")))?;
    Ok(SystemChoice {
        name: name.to_string(),
        dialect,
        var: default_var(name),
        url: Some(value.to_string()),
        inline: true,
    })
}

/// What the playbook's header says.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub organisation: String,
    pub contact: Option<String>,
    pub regulation: Option<String>,
}

/// A system's part of the playbook: drafted from its tables, or a placeholder.
#[derive(Debug, Clone)]
pub struct SystemText {
    /// The lines under `systems:`, indented.
    pub yaml: String,
    /// The collections drafted from the database (empty for a placeholder).
    pub collections: Vec<String>,
    /// Why the database was not drafted, when it was not.
    pub not_drafted: Option<String>,
}

/// The placeholder for a system whose tables were not read: one collection to edit.
/// It does not say why the database was not read: an error may name hosts or paths.
pub fn placeholder(choice: &SystemChoice) -> String {
    let todo = draft::TODO;
    let mut y = String::new();
    let _ = writeln!(y, "  {}:", draft::scalar(&choice.name));
    let _ = writeln!(y, "    connector: {}", choice.dialect.connector());
    let _ = writeln!(y, "    url: ${{env:{}}}", choice.var);
    let _ = writeln!(y, "    purpose: \"{todo}: why is this kept?\"");
    let _ = writeln!(
        y,
        "    legal_basis: contract  # {todo}: confirm (one of: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests)"
    );
    let _ = writeln!(y, "    retention: \"{todo}: how long is this kept?\"");
    let _ = writeln!(
        y,
        "    recipients: []  # {todo}: who receives this data (processors, carriers, authorities)"
    );
    let _ = writeln!(y, "    collections:");
    let _ = writeln!(
        y,
        "      # {todo}: the database's tables were not read; list those that hold personal data,"
    );
    let _ = writeln!(
        y,
        "      # or draft them with `dsr discover '${{env:{}}}'` once the database can be reached.",
        choice.var
    );
    let _ = writeln!(y, "      users:  # {todo}: the table of your customers");
    let _ = writeln!(y, "        match: {{ email: identity.email }}");
    let _ = writeln!(y, "        erase: delete  # {todo}: check");
    y
}

/// The lines of a discover draft under its `systems:` key.
fn systems_part(draft_text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in draft_text.lines() {
        if inside {
            out.push_str(line);
            out.push('\n');
        } else if line == "systems:" {
            inside = true;
        }
    }
    out
}

/// Reads the system's database and drafts its collections, or says why it could not.
async fn system_text(choice: &SystemChoice, sample: u32) -> SystemText {
    let not_drafted = |why: String| SystemText {
        yaml: placeholder(choice),
        collections: Vec::new(),
        not_drafted: Some(why),
    };
    let Some(url) = &choice.url else {
        return not_drafted("the database was not read".into());
    };
    let opts = ReadOptions {
        schema: None,
        sample,
    };
    let catalog = match tokio::time::timeout(READ_TIMEOUT, crate::discover::read(url, &opts)).await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return not_drafted(format!("could not read the database: {e}")),
        Err(_) => {
            return not_drafted(format!(
                "the database did not answer within {}s",
                READ_TIMEOUT.as_secs()
            ));
        }
    };
    let analysis = classify::analyse(&catalog);
    let text = draft::render(
        &catalog,
        &analysis,
        &draft::DraftOptions {
            system: &choice.name,
            url_var: &choice.var,
            schema: None,
            sample,
        },
    );
    match text {
        Ok(t) => SystemText {
            yaml: systems_part(&t),
            collections: analysis
                .tables
                .iter()
                .filter(|t| t.reachable())
                .map(|t| t.table.clone())
                .collect(),
            not_drafted: None,
        },
        Err(e) => not_drafted(e.to_string()),
    }
}

/// The whole playbook.
pub fn render(header: &Header, systems: &[SystemText]) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "{}", crate::playbook::schema_comment());
    let _ = writeln!(
        y,
        "# Playbook started by `dsr init`. Replace every TODO, then run `dsr validate` on it."
    );
    let _ = writeln!(
        y,
        "# Database URLs are read from environment variables (`${{env:VAR}}`), never written here."
    );
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "organisation: {}", draft::scalar(&header.organisation));
    if let Some(c) = &header.contact {
        let _ = writeln!(y, "contact: {}", draft::scalar(c));
    }
    if let Some(r) = &header.regulation {
        let _ = writeln!(y, "regulation: {}", draft::scalar(r));
    }
    let _ = writeln!(y, "identities: [email]");
    let _ = writeln!(y, "systems:");
    for s in systems {
        y.push_str(&s.yaml);
    }
    y
}

/// Asks on the terminal; `None` at end of input.
fn ask(input: &mut dyn BufRead, question: &str, default: Option<&str>) -> anyhow::Result<String> {
    loop {
        let mut err = std::io::stderr().lock();
        match default {
            Some(d) => write!(err, "{question} [{d}]: ")?,
            None => write!(err, "{question}: ")?,
        }
        err.flush()?;
        drop(err);
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Err(UsageError::new("no answer (end of input)")
                .with_hint("pass the values as flags; see `dsr init --help`")
                .into());
        }
        let answer = line.trim();
        if !answer.is_empty() {
            return Ok(answer.to_string());
        }
        if let Some(d) = default {
            return Ok(d.to_string());
        }
    }
}

/// The values the flags leave out, asked for on the terminal.
fn interview(
    args: &InitArgs,
    header: &mut Header,
    systems: &mut Vec<SystemChoice>,
) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    if header.organisation.is_empty() {
        header.organisation = ask(&mut input, "Organisation (who answers the requests)", None)?;
    }
    if header.regulation.is_none() {
        loop {
            let r = ask(
                &mut input,
                &format!("Regulation ({})", crate::deadline::BUILTIN.join(", ")),
                Some(crate::deadline::DEFAULT_REGULATION),
            )?;
            if crate::deadline::BUILTIN.contains(&r.as_str()) {
                header.regulation = Some(r);
                break;
            }
            eprintln!("  '{r}' is not one of them");
        }
    }
    if args.contact.is_none() {
        let c = ask(
            &mut input,
            "Contact of the privacy team (email or web page; - for none)",
            Some("-"),
        )?;
        if c != "-" {
            header.contact = Some(c);
        }
    }
    if systems.is_empty() {
        let name = loop {
            let n = ask(&mut input, "First system's name", Some("app_db"))?;
            if is_name(&n) {
                break n;
            }
            eprintln!("  use letters, digits, '_' and '-'");
        };
        let dialect = loop {
            let k = ask(
                &mut input,
                "Its kind (postgres, mysql, sqlite)",
                Some("postgres"),
            )?;
            if let Some(d) = dialect_of_kind(&k) {
                break d;
            }
            eprintln!("  '{k}' is not one of them");
        };
        let var = loop {
            let v = ask(
                &mut input,
                "The environment variable that holds its URL",
                Some(&default_var(&name)),
            )?;
            if is_var(&v) {
                break v;
            }
            eprintln!("  letters, digits and '_', not starting with a digit");
        };
        let url = std::env::var(&var).ok();
        if url.is_none() {
            eprintln!("  {var} is not set: the tables are not drafted now");
        }
        systems.push(SystemChoice {
            name,
            dialect,
            var,
            url,
            inline: false,
        });
    }
    Ok(())
}

fn refuse_existing(path: &Path) -> UsageError {
    UsageError::new(format!(
        "{} already exists; init does not replace it",
        path.display()
    ))
    .with_hint("pass --out FILE for a new file, or check the existing one with `dsr validate`")
}

pub async fn run(global: &Global, args: &InitArgs) -> anyhow::Result<Exit> {
    let out: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("dsr.yaml"));
    if out.exists() {
        return Err(refuse_existing(&out).into());
    }
    let env = |v: &str| std::env::var(v).ok();
    let mut systems = Vec::new();
    for arg in &args.systems {
        let choice = parse_system(arg, &env).map_err(UsageError::from)?;
        if systems.iter().any(|s: &SystemChoice| s.name == choice.name) {
            return Err(UsageError::from(InitError::Duplicate(choice.name)).into());
        }
        systems.push(choice);
    }
    let mut header = Header {
        organisation: args
            .organisation
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string(),
        contact: args.contact.clone().filter(|c| !c.trim().is_empty()),
        regulation: args.regulation.clone(),
    };
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if terminal && !args.no_input && (header.organisation.is_empty() || systems.is_empty()) {
        interview(args, &mut header, &mut systems)?;
    }
    if header.organisation.is_empty() {
        return Err(
            UsageError::new("--organisation is required without a terminal")
                .with_hint(
                    "e.g. dsr init --organisation \"Acme Ltd\" --system app_db='${env:APP_DB_URL}'",
                )
                .into(),
        );
    }
    if systems.is_empty() {
        return Err(UsageError::new("--system is required without a terminal")
            .with_hint("e.g. --system app_db=postgres://app@db.internal/shop (the URL is not written to the playbook)")
            .into());
    }
    let mut texts = Vec::new();
    for s in &systems {
        texts.push(system_text(s, args.sample).await);
    }
    let text = render(&header, &texts);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                refuse_existing(&out)
            } else {
                UsageError::new(format!("cannot create {}: {}", out.display(), e.kind()))
                    .with_hint("pass --out with a file in a directory you can write")
            }
        })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    report(global, &out, &systems, &texts);
    Ok(Exit::Done)
}

/// The URL as it may be shown: any password replaced by `***`.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => crate::state::postgres::masked(&u),
        Err(_) => "…".into(),
    }
}

fn report(global: &Global, out: &Path, systems: &[SystemChoice], texts: &[SystemText]) {
    if global.json {
        let list: Vec<serde_json::Value> = systems
            .iter()
            .zip(texts)
            .map(|(s, t)| {
                serde_json::json!({
                    "name": s.name,
                    "connector": s.dialect.connector(),
                    "url_variable": s.var,
                    "collections": t.collections,
                    "not_drafted": t.not_drafted,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "out": out.display().to_string(), "systems": list })
        );
    }
    if global.quiet {
        return;
    }
    eprintln!("Wrote {}.", out.display());
    for (s, t) in systems.iter().zip(texts) {
        match &t.not_drafted {
            None => eprintln!(
                "  {}: {} collections drafted from the database ({})",
                s.name,
                t.collections.len(),
                t.collections.join(", ")
            ),
            Some(why) => eprintln!("  {}: a placeholder collection to edit ({why})", s.name),
        }
    }
    eprintln!("The database URLs are not in the file; dsr reads them from these variables:");
    for s in systems {
        match (&s.url, s.inline) {
            (Some(url), true) => {
                eprintln!("  export {}='{}'", s.var, shown_url(url));
            }
            (Some(_), false) => eprintln!("  {} (set now)", s.var),
            (None, _) => eprintln!("  export {}=…   # the {} URL", s.var, s.dialect.connector()),
        }
    }
    eprintln!(
        "Next: replace the TODOs in {0}, set the variables, and run `dsr validate {0}`.",
        out.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &str) -> Option<String> {
        (v == "SHOP_URL").then(|| "mysql://app:pw@db/shop".to_string())
    }

    #[test]
    fn init_system_url_goes_into_a_variable() {
        let s = parse_system("app_db=postgres://app:secret@db/shop", &env).unwrap();
        assert_eq!(s.var, "APP_DB_URL");
        assert_eq!(s.dialect, Dialect::Postgres);
        assert!(s.inline);
        let s = parse_system("shop=${env:SHOP_URL}", &env).unwrap();
        assert_eq!(
            (s.var.as_str(), s.dialect, s.inline),
            ("SHOP_URL", Dialect::Mysql, false)
        );
        let s = parse_system("crm=sqlite", &env).unwrap();
        assert_eq!((s.var.as_str(), s.url), ("CRM_DB_URL", None));
    }

    #[test]
    fn init_system_mistakes_are_named() {
        assert!(matches!(
            parse_system("app_db", &env),
            Err(InitError::NotNameUrl(_))
        ));
        assert!(matches!(
            parse_system("a b=sqlite", &env),
            Err(InitError::BadName(_))
        ));
        assert!(matches!(
            parse_system("x=${env:NOPE}", &env),
            Err(InitError::UnsetVar { .. })
        ));
        assert!(matches!(
            parse_system("x=redis://h", &env),
            Err(InitError::Unsupported { .. })
        ));
    }

    #[test]
    fn init_placeholder_never_holds_the_url() {
        let s = parse_system("app_db=postgres://app:secret@db/shop", &env).unwrap();
        let text = render(
            &Header {
                organisation: "Acme: Ltd".into(),
                contact: None,
                regulation: Some("gdpr".into()),
            },
            &[SystemText {
                yaml: placeholder(&s),
                collections: vec![],
                not_drafted: Some("not read".into()),
            }],
        );
        assert!(
            !text.contains("secret") && !text.contains("postgres://"),
            "{text}"
        );
        assert!(text.contains("url: ${env:APP_DB_URL}"), "{text}");
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{text}"
        );
    }
}
