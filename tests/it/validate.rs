//! Playbook validation: every error names file, line, column and field path.
//!
//! Each test writes a playbook into a fresh workspace and runs `dsr validate pb.yaml` there, so
//! the file name in every message is the stable relative `pb.yaml`. Playbook texts are written
//! indented in the source and dedented by [`yaml`]; their first line is line 1 of the file.

use crate::support::{Ran, Workspace, repo, run};

/// Strips the leading newline and the common indentation, so that line 1 of the file is the
/// first line after `r#"`.
fn yaml(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text).trim_end();
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Writes `text` (dedented) as `pb.yaml` and validates it.
fn validate(text: &str) -> Ran {
    let ws = Workspace::new();
    ws.write("pb.yaml", &yaml(text));
    ws.run(["validate", "pb.yaml"])
}

/// A valid playbook with one sqlite system; `{collections}` goes under `collections:` (line 12
/// on) and must be indented by 6 spaces relative to the other lines.
fn with_collections(collections: &str) -> String {
    let head = yaml(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          app:
            connector: sqlite
            path: app.db
            purpose: Accounts.
            legal_basis: contract
            retention: 30 days.
            collections:
        "#,
    );
    let body: String = yaml(collections)
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect();
    head + &body
}

fn validate_collections(collections: &str) -> Ran {
    let ws = Workspace::new();
    ws.write("pb.yaml", &with_collections(collections));
    ws.run(["validate", "pb.yaml"])
}

/// A playbook with one postgres system whose url, legal basis and erase strategy are given.
fn postgres(url: &str, legal_basis: &str, erase: &str) -> String {
    format!(
        "version: 1
organisation: Acme
identities: [email]
systems:
  app:
    connector: postgres
    url: {url}
    purpose: Accounts.
    legal_basis: {legal_basis}
    retention: 30 days.
    collections:
      users:
        match: {{ email: identity.email }}
        erase: {erase}
"
    )
}

#[test]
fn the_yaml_helpers_number_lines_from_one() {
    let text = with_collections("users:\n  match: { email: identity.email }\n");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "version: 1");
    assert_eq!(lines[10], "    collections:");
    assert_eq!(lines[11], "      users:");
    assert_eq!(lines[12], "        match: { email: identity.email }");
    validate_collections("users:\n  match: { email: identity.email }\n").exits(0);
}

// ---------------------------------------------------------------------------------------------
// YAML and schema errors

#[test]
fn bad_indentation_points_at_the_misindented_line() {
    // Line 7 is indented by 3 instead of 4. serde alone would complain about a missing
    // `purpose` in the mapping the bad line ends; the syntax error is what the user must fix.
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          app:
            connector: sqlite
           path: app.db
            purpose: Accounts.
            legal_basis: contract
            retention: 30 days.
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is("error: pb.yaml:7:4: while parsing a block mapping, did not find expected key\n");
}

#[test]
fn unclosed_flow_sequence_is_a_syntax_error_with_its_line() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email, user_id
        systems: {}
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is("error: pb.yaml:4:8: illegal placement of ':' indicator\n");
}

#[test]
fn unclosed_flow_mapping_is_a_syntax_error_with_its_line() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email
        orders:
          match: { user_id: users.user_id }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:13: while parsing a flow mapping, did not find expected ',' or '}'\n",
    );
}

#[test]
fn unknown_key_is_named_with_its_line_and_a_hint() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          app:
            connector: sqlite
            path: app.db
            purpose: Accounts.
            legal_basis: contract
            retention: 30 days.
            colections:
              users:
                match: { email: identity.email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:11:5: systems.app.colections: unknown field `colections`, expected one of \
         connector, description, purpose, legal_basis, retention, recipients, source, transfers, \
         safeguards, concurrency, timeout, retries, match_case, collections, path, url, seed\n  \
         hint: did you mean 'collections'?\n",
    );
}

#[test]
fn unknown_key_deep_inside_a_flow_mapping() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          fields:
            email: { category: contact.email, descripton: Where we write to you }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:15:45: systems.app.collections.users.fields.email.descripton: unknown \
         field `descripton`, expected one of category, description\n  \
         hint: did you mean 'description'?\n",
    );
}

#[test]
fn version_of_the_wrong_type() {
    validate(
        r#"
        version: "one"
        organisation: Acme
        identities: [email]
        systems: {}
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is("error: pb.yaml:1:10: version: invalid u32\n");
}

#[test]
fn identities_must_be_a_list() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: email
        systems: {}
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is("error: pb.yaml:3:13: identities: expected sequence start\n");
}

#[test]
fn missing_required_field_names_the_mapping_that_lacks_it() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          app:
            connector: sqlite
            path: app.db
            legal_basis: contract
            retention: 30 days.
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is("error: pb.yaml:5:3: systems.app: missing field `purpose`\n");
}

#[test]
fn duplicate_collection_is_reported_at_the_second_key() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
        users:
          match: { email: identity.email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:7: systems.app.collections.users: duplicate mapping key `users` is not \
         allowed here\n",
    );
}

#[test]
fn erase_map_with_a_misspelt_key_names_the_key() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          erase:
            mask: { email: hash }
            becuase: Fraud prevention.
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:16:11: systems.app.collections.users.erase.becuase: unknown field \
         `becuase`, expected one of mask, keep, delete, because\n  \
         hint: did you mean 'because'?\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Names and kinds

#[test]
fn unknown_connector_kind_suggests_the_close_one() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          app:
            connector: postgress
            url: postgres://app@db/x
            purpose: Accounts.
            legal_basis: contract
            retention: 30 days.
            collections:
              users:
                match: { email: identity.email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:6:16: systems.app.connector: unknown connector kind 'postgress'\n  \
         hint: did you mean 'postgres'?\n",
    );
}

#[test]
fn unknown_legal_basis_suggests_the_close_one() {
    validate(&postgres(
        "postgres://app@db/x",
        "legitimate_interest",
        "delete",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:9:18: systems.app.legal_basis: unknown legal basis \
         'legitimate_interest'\n  hint: did you mean 'legitimate_interests'?\n",
    );
}

#[test]
fn unknown_legal_basis_far_from_any_lists_them_all() {
    validate(&postgres("postgres://app@db/x", "because", "delete"))
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: pb.yaml:9:18: systems.app.legal_basis: unknown legal basis 'because'\n  \
         hint: expected one of: consent, contract, legal_obligation, vital_interests, \
         public_task, legitimate_interests\n",
        );
}

// ---------------------------------------------------------------------------------------------
// References and the identity graph

#[test]
fn unknown_collection_in_a_match_reference() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          provides: { user_id: id }
        orders:
          match: { user_id: user.user_id }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:16:27: systems.app.collections.orders.match.user_id: unknown collection \
         'user'\n  hint: did you mean 'users'?\n",
    );
}

#[test]
fn unknown_system_in_a_qualified_reference() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          provides: { user_id: id }
        orders:
          match:
            user_id: ap.users.user_id
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:17:20: systems.app.collections.orders.match.user_id: unknown system \
         'ap'\n  hint: did you mean 'app'?\n",
    );
}

#[test]
fn unknown_collection_in_a_qualified_reference() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          provides: { user_id: id }
        orders:
          match: { user_id: app.usres.user_id }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:16:27: systems.app.collections.orders.match.user_id: unknown collection \
         'usres' in system 'app'\n  hint: did you mean 'users'?\n",
    );
}

#[test]
fn reference_to_a_name_the_collection_does_not_provide() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
          provides: { user_id: id, account_id: account }
        orders:
          match: { user_id: users.userid }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:16:27: systems.app.collections.orders.match.user_id: app.users does not \
         provide 'userid'\n  hint: did you mean 'user_id'? app.users provides: account_id, \
         user_id\n",
    );
}

#[test]
fn reference_to_a_collection_that_provides_nothing() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
        orders:
          match: { user_id: users.user_id }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:15:27: systems.app.collections.orders.match.user_id: app.users does not \
         provide 'user_id'\n  hint: add `provides: { user_id: COLUMN }` to app.users\n",
    );
}

#[test]
fn reference_that_is_not_a_reference() {
    validate_collections(
        r#"
        users:
          match: { email: email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:13:25: systems.app.collections.users.match.email: 'email' is not a \
         reference\n  hint: write identity.KIND, COLLECTION.NAME or SYSTEM.COLLECTION.NAME\n",
    );
}

#[test]
fn identity_kind_that_is_not_declared() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email, phone: identity.phone }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:13:48: systems.app.collections.users.match.phone: identity kind 'phone' \
         is not declared\n  hint: declare it in `identities:` (now: email)\n",
    );
}

#[test]
fn misspelt_identity_kind_suggests_the_declared_one() {
    validate_collections(
        r#"
        users:
          match: { email: identity.emial }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:13:25: systems.app.collections.users.match.email: identity kind 'emial' \
         is not declared\n  hint: did you mean 'identity.email'?\n",
    );
}

#[test]
fn cycle_in_the_identity_graph_and_what_waits_on_it() {
    validate_collections(
        r#"
        a:
          match: { y: b.y }
          provides: { x: id }
        b:
          match: { x: a.x }
          provides: { y: id }
        c:
          match: { x: a.x }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:13:9: systems.app.collections.a.match: the identity graph has a cycle: \
         app.a → app.b → app.a\n  hint: one of these collections must match on an identity or \
         on a collection outside the cycle\n\
         pb.yaml:19:9: systems.app.collections.c.match: no identity can reach this collection: \
         it waits on a cycle\n\
         2 errors\n",
    );
}

#[test]
fn collection_without_match_cannot_be_reached() {
    validate_collections(
        r#"
        users:
          match: { email: identity.email }
        audit_log:
          description: Everything anyone did
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:7: systems.app.collections.audit_log: no identity can reach this \
         collection: it has no `match`\n  hint: add e.g. `match: { email: identity.email }` or a \
         reference to another collection's `provides`\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn missing_environment_variable_is_named() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        &postgres("${env:DSR_TEST_UNSET_VAR_XYZ}", "contract", "delete"),
    );
    run(ws
        .dsr()
        .env_remove("DSR_TEST_UNSET_VAR_XYZ")
        .args(["validate", "pb.yaml"]))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:7:10: systems.app.url: environment variable DSR_TEST_UNSET_VAR_XYZ is \
         not set\n  hint: export DSR_TEST_UNSET_VAR_XYZ=… before running dsr\n",
    );
}

#[test]
fn set_secret_is_accepted_and_its_value_never_printed() {
    const SECRET: &str = "Zq9-n0t-pr1nted-7c1e";
    let url = format!("postgres://app:{SECRET}@db.internal:5432/app");
    let ws = Workspace::new();
    // Another error keeps the playbook invalid, so every message is printed.
    ws.write(
        "pb.yaml",
        &postgres("${env:DSR_TEST_VALIDATE_SECRET_URL}", "contrakt", "delete"),
    );
    for extra in [&[][..], &["--json"][..], &["-vv"][..]] {
        run(ws
            .dsr()
            .env("DSR_TEST_VALIDATE_SECRET_URL", &url)
            .args(["validate", "pb.yaml"])
            .args(extra))
        .exits(2)
        .output_has("pb.yaml:9:18: systems.app.legal_basis: unknown legal basis 'contrakt'")
        // Neither the secret, nor the url, nor (it is set) a missing variable.
        .output_lacks(SECRET)
        .output_lacks("db.internal")
        .output_lacks("environment variable");
    }
    // Fixed, the same playbook is valid and still does not print the value.
    ws.write(
        "pb.yaml",
        &postgres("${env:DSR_TEST_VALIDATE_SECRET_URL}", "contract", "delete"),
    );
    for extra in [&[][..], &["--json"][..]] {
        run(ws
            .dsr()
            .env("DSR_TEST_VALIDATE_SECRET_URL", &url)
            .args(["validate", "pb.yaml"])
            .args(extra))
        .exits(0)
        .output_lacks(SECRET);
    }
}

#[test]
fn inline_password_is_rejected_without_printing_it() {
    validate(&postgres(
        "postgres://app:hunter2@db/x",
        "contract",
        "delete",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:7:10: systems.app.url: the url holds a password inline\n  hint: put the \
         secret in the environment and write `url: ${env:APP_DB_URL}` or `${file:PATH}`\n",
    )
    .stderr_lacks("hunter2");
    // Also when another mistake makes serde stop first and the url is never checked.
    validate(&postgres(
        "postgres://app:hunter2@db/x",
        "[contract]",
        "delete",
    ))
    .exits(2)
    .stderr_has("pb.yaml:9:18: systems.app.legal_basis: ")
    .output_lacks("hunter2");
}

#[test]
fn password_from_the_environment_inside_a_url_is_fine() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        &postgres(
            "postgres://app:${env:DSR_TEST_VALIDATE_PW}@db/x",
            "contract",
            "delete",
        ),
    );
    run(ws
        .dsr()
        .env("DSR_TEST_VALIDATE_PW", "hunter2")
        .args(["validate", "pb.yaml"]))
    .exits(0)
    .stdout_lacks("hunter2");
}

// ---------------------------------------------------------------------------------------------
// Erase strategies

#[test]
fn unknown_erase_word() {
    validate(&postgres("postgres://app@db/x", "contract", "destroy"))
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: pb.yaml:14:16: systems.app.collections.users.erase: unknown erase strategy \
         'destroy'\n  hint: expected one of: delete, keep, mask\n",
        );
}

#[test]
fn erase_keep_needs_a_reason() {
    validate(&postgres("postgres://app@db/x", "contract", "keep"))
        .exits(2)
        .stdout_empty()
        .stderr_is("error: pb.yaml:14:16: systems.app.collections.users.erase: `keep` needs a reason\n  \
         hint: write `erase: { keep: true, because: \"tax law requires invoices for 10 years\" }`\n");
    validate(&postgres(
        "postgres://app@db/x",
        "contract",
        "{ keep: true }",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:16: systems.app.collections.users.erase: `keep` needs a reason in \
         `because`\n  hint: the reason is recorded in every report\n",
    );
    validate(&postgres(
        "postgres://app@db/x",
        "contract",
        "{ keep: true, because: \"  \" }",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:16: systems.app.collections.users.erase: `keep` needs a reason in \
         `because`\n  hint: the reason is recorded in every report\n",
    );
}

#[test]
fn erase_mask_needs_columns() {
    validate(&postgres("postgres://app@db/x", "contract", "mask"))
        .exits(2)
        .stdout_empty()
        .stderr_is("error: pb.yaml:14:16: systems.app.collections.users.erase: `mask` needs the columns to \
         mask\n  hint: write `erase: { mask: { email: hash } }`\n");
    validate(&postgres("postgres://app@db/x", "contract", "{ mask: {} }"))
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: pb.yaml:14:16: systems.app.collections.users.erase: `mask` lists no columns\n",
        );
}

#[test]
fn unknown_mask_method() {
    validate(&postgres(
        "postgres://app@db/x",
        "contract",
        "{ mask: { email: scramble, name: hsh } }",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:33: systems.app.collections.users.erase.mask.email: unknown mask \
         method 'scramble'\n  hint: expected one of: null, redact, hash, random, truncate_date\n\
         pb.yaml:14:49: systems.app.collections.users.erase.mask.name: unknown mask method \
         'hsh'\n  hint: did you mean 'hash'?\n\
         2 errors\n",
    );
}

#[test]
fn erase_says_exactly_one_strategy() {
    validate(&postgres(
        "postgres://app@db/x",
        "contract",
        "{ mask: { email: hash }, delete: true }",
    ))
    .exits(2)
    .stdout_empty()
    .stderr_is(
        "error: pb.yaml:14:16: systems.app.collections.users.erase: say exactly one of `mask`, \
         `keep: true` or `delete: true`\n",
    );
}

#[test]
fn erase_of_the_wrong_type() {
    validate(&postgres("postgres://app@db/x", "contract", "[delete]"))
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: pb.yaml:14:9: systems.app.collections.users.erase: invalid type: sequence, \
         expected `delete`, `keep` or a map with `mask`, `keep` or `delete` and `because`\n",
        );
}

// ---------------------------------------------------------------------------------------------
// Many errors at once

#[test]
fn every_error_is_listed_sorted_by_line_with_a_count() {
    // Systems are checked in name order (`archive` before `web`) and references after all
    // systems, so the order found differs from the order in the file.
    let expected = "\
error: pb.yaml:1:10: version: unsupported version 2
  hint: this dsr reads version: 1
pb.yaml:13:27: systems.web.collections.sessions.match.user_id: archive.accounts does not provide 'account_id'
  hint: archive.accounts provides: id
pb.yaml:16:10: systems.archive.url: environment variable DSR_TEST_UNSET_VAR_XYZ is not set
  hint: export DSR_TEST_UNSET_VAR_XYZ=… before running dsr
pb.yaml:18:18: systems.archive.legal_basis: unknown legal basis 'legal_obligaton'
  hint: did you mean 'legal_obligation'?
pb.yaml:22:25: systems.archive.collections.accounts.match.email: identity kind 'mail' is not declared
  hint: did you mean 'identity.email'?
pb.yaml:24:16: systems.archive.collections.accounts.erase: `keep` needs a reason
  hint: write `erase: { keep: true, because: \"tax law requires invoices for 10 years\" }`
6 errors
";
    let r = validate(
        r#"
        version: 2
        organisation: Acme
        identities: [email]
        systems:
          web:
            connector: sqlite
            path: web.db
            purpose: The shop.
            legal_basis: contract
            retention: 1 year.
            collections:
              sessions:
                match: { user_id: archive.accounts.account_id }
          archive:
            connector: mysql
            url: ${env:DSR_TEST_UNSET_VAR_XYZ}
            purpose: Old accounts.
            legal_basis: legal_obligaton
            retention: 10 years.
            collections:
              accounts:
                match: { email: identity.mail }
                provides: { id: id }
                erase: keep
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_is(expected);
    // Sorted by line, whatever order the checks ran in.
    let lines: Vec<usize> = r
        .stderr
        .lines()
        .filter_map(|l| l.trim_start_matches("error: ").strip_prefix("pb.yaml:"))
        .map(|rest| rest.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(lines.is_sorted(), "{lines:?}");
}

#[test]
fn snapshot_of_several_errors() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        &yaml(
            r#"
            version: 1
            organisation: Acme
            identities: [email, user_id]
            systems:
              crm:
                connector: postgress
                url: ${env:DSR_TEST_UNSET_VAR_XYZ}
                purpose: Customer relations.
                legal_basis: legitimate_interests
                retention: 2 years.
                collections:
                  contacts:
                    match: { email: identity.email }
                    provides: { contact_id: id }
                    erase: { keep: true }
                  notes:
                    match: { contact_id: contact.contact_id }
                    erase: { mask: { body: shred } }
            "#,
        ),
    );
    let r = run(ws
        .dsr()
        .env_remove("DSR_TEST_UNSET_VAR_XYZ")
        .args(["validate", "pb.yaml"]))
    .exits(2)
    .stdout_empty();
    // The name is relative already; also guard against the temp dir ever appearing.
    let stderr = r
        .stderr
        .replace(&ws.path().display().to_string(), "[WORKSPACE]")
        .replace("pb.yaml", "[PLAYBOOK]");
    insta::assert_snapshot!(stderr);
}

// ---------------------------------------------------------------------------------------------
// Files that cannot be read

#[test]
fn non_utf8_file_names_the_line() {
    let ws = Workspace::new();
    std::fs::write(
        ws.path().join("pb.yaml"),
        b"version: 1\norganisation: Acme \xff\xfe\nidentities: [email]\n",
    )
    .unwrap();
    ws.run(["validate", "pb.yaml"])
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: pb.yaml:2:20: playbook is not valid UTF-8\n  hint: save the file as UTF-8\n",
        );
}

#[test]
fn missing_file() {
    let ws = Workspace::new();
    ws.run(["validate", "missing.yaml"])
        .exits(2)
        .stdout_empty()
        .stderr_is(
            "error: missing.yaml: cannot read playbook: file not found\n  hint: pass --playbook \
         FILE or set DSR_PLAYBOOK\n",
        );
}

#[test]
fn empty_file() {
    let ws = Workspace::new();
    ws.write("pb.yaml", "");
    ws.run(["validate", "pb.yaml"])
        .exits(2)
        .stdout_empty()
        .stderr_is("error: pb.yaml:1:1: unexpected end of file\n");
}

// ---------------------------------------------------------------------------------------------
// A valid playbook

#[test]
fn demo_playbook_is_valid_and_summarised() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    let r = run(ws.dsr().arg("validate").arg(&demo))
        .exits(0)
        .stderr_empty();
    let last = r.stdout.lines().last().unwrap();
    assert_eq!(
        last,
        format!("{}: valid (4 systems, 8 collections)", demo.display())
    );
    let header = r.stdout.lines().nth(1).unwrap();
    for column in ["system", "connector", "collection", "fields", "erase"] {
        assert!(header.contains(column), "{header}");
    }
    for (system, collection, erase) in [
        ("accounts", "users", "delete"),
        ("accounts", "addresses", "delete"),
        ("accounts", "login_events", "delete"),
        ("shop", "orders", "mask shipping_address:redact"),
        ("shop", "order_items", "keep"),
        ("support", "tickets", "delete"),
        ("support", "messages", "delete"),
        ("newsletter", "subscribers", "delete"),
    ] {
        let row = r
            .stdout
            .lines()
            .find(|l| {
                let cells: Vec<&str> = l.split('│').map(str::trim).collect();
                cells.get(1) == Some(&system) && cells.get(3) == Some(&collection)
            })
            .unwrap_or_else(|| panic!("no row for {system}.{collection}:\n{}", r.stdout));
        assert!(row.contains("sqlite"), "{row}");
        assert!(row.contains(erase), "{row}");
    }
}

#[test]
fn demo_playbook_as_json() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    let v = run(ws.dsr().args(["validate", "--json"]).arg(&demo))
        .exits(0)
        .stderr_empty()
        .json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["playbook"], demo.display().to_string());
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    let systems: Vec<&str> = v["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(systems, ["accounts", "newsletter", "shop", "support"]);
    let shop = &v["systems"][2];
    assert_eq!(shop["connector"], "sqlite");
    assert_eq!(shop["collections"][0]["name"], "order_items");
    assert_eq!(shop["collections"][0]["erase"], "keep");
}

#[test]
fn quiet_prints_only_the_summary_line() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    run(ws.dsr().args(["validate", "--quiet"]).arg(&demo))
        .exits(0)
        .stderr_empty()
        .stdout_is(format!(
            "{}: valid (4 systems, 8 collections)\n",
            demo.display()
        ));
}

/// Orders keyed by (region, num), and lines that reference them by both columns: the lines of
/// (eu, 1) and (us, 1) share `num`, so a match on `num` alone reaches both.
const KEYED_TABLES: [&str; 2] = [
    "CREATE TABLE orders (region VARCHAR(10) NOT NULL, num INTEGER NOT NULL, email VARCHAR(100) NOT NULL, PRIMARY KEY (region, num))",
    "CREATE TABLE order_lines (region VARCHAR(10) NOT NULL, num INTEGER NOT NULL, line_no INTEGER NOT NULL, PRIMARY KEY (region, num, line_no), FOREIGN KEY (region, num) REFERENCES orders (region, num))",
];

/// `orders` (line 13) and `order_lines` with `match: {order_lines_match}` on line 18.
fn keyed_collections(orders_provides: &str, order_lines_match: &str) -> String {
    format!(
        "      orders:\n        match: {{ email: identity.email }}\n        provides: {orders_provides}\n        erase: delete\n\
         \x20     order_lines:\n        match: {order_lines_match}\n        erase: delete\n"
    )
}

fn validate_connect(f: &crate::identity_graph::Fixture, json: bool) -> Ran {
    let mut cmd = f.ws.dsr();
    if json {
        cmd.arg("--json");
    }
    run(cmd.args(["validate", "--connect", "pb.yaml"]))
}

/// The warning for `match: { num: orders.num }` on line 18, column 18.
const PARTIAL_KEY_WARNING: &str = "warning: pb.yaml:18:18: systems.app.collections.order_lines.match.num: \
matches on num but not region of the foreign key (region, num) references orders (region, num): \
rows that reference another orders row with the same num are reached too\n  \
hint: match every column of the key together: `match: { region: orders.region, num: orders.num }`\n";

/// A match on part of a composite foreign key warns with its line and exits 0; the whole key,
/// matched together, does not warn.
fn warns_of_a_partly_matched_foreign_key(db: crate::identity_graph::Db, name: &str) {
    use crate::identity_graph::Fixture;
    let provides = "{ region: region, num: num }";
    let f = Fixture::new(
        db,
        name,
        &KEYED_TABLES,
        &[],
        &keyed_collections(provides, "{ num: orders.num }"),
    );
    let r = validate_connect(&f, false)
        .exits(0)
        .stderr_is(PARTIAL_KEY_WARNING);
    assert!(
        r.stdout
            .ends_with("pb.yaml: valid (1 systems, 2 collections)\n"),
        "{db:?}: {}",
        r.stdout
    );
    let v = validate_connect(&f, true).exits(0).json();
    assert_eq!(v["valid"], true);
    let warnings = v["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{db:?}: {warnings:?}");
    assert_eq!(warnings[0]["file"], "pb.yaml");
    assert_eq!(warnings[0]["line"], 18);
    assert_eq!(warnings[0]["column"], 18);
    assert_eq!(
        warnings[0]["field"],
        "systems.app.collections.order_lines.match.num"
    );
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("foreign key (region, num) references orders (region, num)"),
        "{db:?}: {warnings:?}"
    );
    assert!(warnings[0]["hint"].as_str().unwrap().contains("together"));

    let pb = f.ws.path().join("pb.yaml");
    let text = std::fs::read_to_string(&pb).unwrap().replace(
        "{ num: orders.num }",
        "{ region: orders.region, num: orders.num }",
    );
    std::fs::write(&pb, text).unwrap();
    // The whole key, together, is right.
    validate_connect(&f, false).exits(0).stderr_empty();
    let v = validate_connect(&f, true).json();
    assert_eq!(v["warnings"], serde_json::json!([]), "{db:?}");
}

#[test]
fn connect_warns_of_a_partly_matched_foreign_key_on_postgres() {
    warns_of_a_partly_matched_foreign_key(
        crate::identity_graph::Db::Postgres,
        "dsr_it_validate_partial_key",
    );
}

#[test]
fn connect_warns_of_a_partly_matched_foreign_key_on_mariadb() {
    warns_of_a_partly_matched_foreign_key(
        crate::identity_graph::Db::Mariadb,
        "dsr_it_validate_partial_key",
    );
}

#[test]
fn connect_warns_of_a_partly_matched_foreign_key_on_sqlite() {
    warns_of_a_partly_matched_foreign_key(crate::identity_graph::Db::Sqlite, "unused");
}

/// The other ways of not following a composite key: its columns each on their own, or paired
/// with the wrong columns; and, without a foreign key, part of the upstream's primary key.
#[test]
fn connect_warns_of_keys_matched_apart_or_mispaired() {
    use crate::identity_graph::{Db, Fixture};
    // Both columns take the same value: each matches on its own.
    let f = Fixture::new(
        Db::Sqlite,
        "unused",
        &KEYED_TABLES,
        &[],
        &keyed_collections("{ num: num }", "{ region: orders.num, num: orders.num }"),
    );
    validate_connect(&f, false).exits(0).stderr_is(
        "warning: pb.yaml:18:18: systems.app.collections.order_lines.match.region: \
         matches region and num each on its own, but they are one foreign key (region, num) references orders (region, num): \
         rows that reference another orders row with one of the same values are reached too\n  \
         hint: match every column of the key together: `match: { region: orders.region, num: orders.num }`, with `provides: { region: region }` on orders\n",
    );
    // Together, but region with num and num with region.
    let f = Fixture::new(
        Db::Sqlite,
        "unused",
        &KEYED_TABLES,
        &[],
        &keyed_collections(
            "{ region: region, num: num }",
            "{ region: orders.num, num: orders.region }",
        ),
    );
    validate_connect(&f, false).exits(0).stderr_is(
        "warning: pb.yaml:18:18: systems.app.collections.order_lines.match.region: \
         matches region with column num of orders, but the foreign key (region, num) references orders (region, num) pairs region with region\n  \
         hint: match every column of the key together: `match: { region: orders.region, num: orders.num }`\n",
    );
    // No foreign key: a tuple that holds only part of the orders' primary key.
    let tables = [
        KEYED_TABLES[0],
        "CREATE TABLE shipments (region VARCHAR(10) NOT NULL, email VARCHAR(100) NOT NULL, carrier VARCHAR(20))",
    ];
    let collections = "      orders:\n        match: { email: identity.email }\n        provides: { region: region, email: email }\n        erase: delete\n\
\x20     shipments:\n        match: { region: orders.region, email: orders.email }\n";
    let f = Fixture::new(Db::Sqlite, "unused", &tables, &[], collections);
    validate_connect(&f, false).exits(0).stderr_is(
        "warning: pb.yaml:18:18: systems.app.collections.shipments.match.region: \
         matches (email, region) of one orders row, which holds region but not num of its primary key (region, num): \
         unless those columns identify one orders row, rows of other people may be reached too\n  \
         hint: match every column of the primary key of orders (region, num) together, with `provides: { num: num }` on orders\n",
    );
}

#[test]
fn a_kind_setting_of_the_wrong_type_is_named_at_its_line() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          cache:
            connector: redis
            url: redis://127.0.0.1:6379/0
            max_keys: many
            purpose: Sessions.
            legal_basis: contract
            retention: 30 days.
            collections:
              sessions:
                keys: "session:{email}"
                match: { email: identity.email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_has("pb.yaml:8:15: systems.cache.max_keys: invalid type: a string, expected u64")
    .stderr_has(
        "pb.yaml:14:15: systems.cache.collections.sessions.keys: invalid type: a string, expected a sequence",
    );
}

#[test]
fn a_number_where_a_kind_expects_text_reads_as_text() {
    // `schema: 2024` is the schema named 2024, as it would be for any text field.
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        &yaml(
            r#"
            version: 1
            organisation: Acme
            identities: [email]
            systems:
              app:
                connector: postgres
                url: postgres://app@db/x
                schema: 2024
                purpose: Accounts.
                legal_basis: contract
                retention: 30 days.
                collections:
                  users:
                    match: { email: identity.email }
            "#,
        ),
    );
    let out = ws.run(["--json", "validate", "pb.yaml"]).exits(0).json();
    assert_eq!(
        out["systems"][0]["collections"][0]["table"], "users",
        "{out}"
    );
}

#[test]
fn a_secret_written_where_a_map_belongs_is_not_printed() {
    validate(
        r#"
        version: 1
        organisation: Acme
        identities: [email]
        systems:
          hook:
            connector: webhook
            url: https://erasure.internal/dsr
            auth: hunter2-the-signing-secret
            purpose: Erasure.
            legal_basis: contract
            retention: 30 days.
            collections:
              accounts:
                match: { email: identity.email }
        "#,
    )
    .exits(2)
    .stdout_empty()
    .stderr_has("pb.yaml:8:11: systems.hook.auth: invalid type: a string, expected a map")
    .output_lacks("hunter2");
}
