//! Batch runs: 200 people across PostgreSQL, MariaDB and a SaaS fake; a bad row; a rerun.

use crate::fakes;
use crate::support::{
    HEADER, Workspace, mysql_exec, mysql_strings, pg_exec, pg_strings, read_json, run, system,
};
use serde_json::json;

#[test]
fn a_batch_of_200_erases_everyone_once_and_a_rerun_does_nothing_new() {
    let people: Vec<String> = (0..200).map(|i| format!("p{i}@example.com")).collect();
    let mut users = String::from("INSERT INTO dsr_it_batch_e.users VALUES ");
    users += &people
        .iter()
        .enumerate()
        .map(|(i, e)| format!("({i}, '{e}')"))
        .collect::<Vec<_>>()
        .join(", ");
    users += ", (999, 'stays@example.com')";
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_batch_e CASCADE",
        "CREATE SCHEMA dsr_it_batch_e",
        "CREATE TABLE dsr_it_batch_e.users (id int PRIMARY KEY, email text)",
        &users,
    ]);
    let mut orders = String::from("INSERT INTO dsr_it_batch_e.orders VALUES ");
    orders += &(0..200)
        .map(|i| format!("({i}, {i}), ({}, {i})", 1000 + i))
        .collect::<Vec<_>>()
        .join(", ");
    orders += ", (5000, 999)";
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_batch_e",
        "CREATE DATABASE dsr_it_batch_e",
        "CREATE TABLE dsr_it_batch_e.orders (id INT PRIMARY KEY, user_id INT)",
        &orders,
    ]);
    let (fake, url) = fakes::stripe::start();
    fake.seed(
        "customers",
        people
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"id": format!("cus_{i}"), "object": "customer", "email": e}))
            .chain([json!({"id": "cus_stays", "object": "customer", "email": "stays@example.com"})])
            .collect(),
    );

    let ws = Workspace::new();
    ws.write("secrets/stripe", fakes::stripe::KEY);
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        "    schema: dsr_it_batch_e\n",
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n",
    );
    pb += &system(
        "shop",
        "mysql",
        "${env:DSR_TEST_MYSQL_URL}",
        "    schema: dsr_it_batch_e\n",
        "      orders:\n        match: { user_id: app.users.uid }\n        erase: delete\n",
    );
    pb += &format!(
        "  stripe:\n    connector: stripe\n    base_url: {url}\n    auth: {{ token: \"${{file:secrets/stripe}}\" }}\n    purpose: Payments\n    legal_basis: contract\n    retention: 10 years\n    collections:\n      customers:\n        match: {{ email: identity.email }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);
    let mut csv = String::from("email\n");
    for (i, p) in people.iter().enumerate() {
        csv += &format!("{p}\n");
        if i == 10 {
            csv += "not an email\n";
        }
    }
    ws.write("closed.csv", &csv);

    let r = run(ws.dsr().args([
        "--json",
        "--concurrency",
        "16",
        "batch",
        "erase",
        "closed.csv",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(
        r.code, 2,
        "a bad row makes the exit code 2; stderr: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("closed.csv:13: the email identity is not a valid email address"),
        "{}",
        r.stderr
    );
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let subjects: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("line").is_some()).collect();
    assert_eq!(subjects.len(), 200);
    assert!(
        subjects.iter().all(|s| s["outcome"] == "done"),
        "{:?}",
        subjects.iter().find(|s| s["outcome"] != "done")
    );
    assert_eq!(
        pg_strings("SELECT email FROM dsr_it_batch_e.users"),
        ["stays@example.com"]
    );
    assert_eq!(
        mysql_strings("SELECT CAST(GROUP_CONCAT(id) AS CHAR) FROM dsr_it_batch_e.orders"),
        ["5000"]
    );
    for p in &people {
        assert!(
            fake.find("customers", "email", p).is_empty(),
            "{p} still at stripe"
        );
    }
    assert_eq!(
        fake.find("customers", "email", "stays@example.com").len(),
        1
    );
    let deletes = fake.calls("DELETE /v1/customers/");
    assert_eq!(deletes, 200, "one delete per customer");

    let summary = read_json(&ws.path().join("dsr-batch-closed/summary.json"));
    assert_eq!(summary["outcomes"], json!({"done": 200}));
    assert_eq!(summary["systems"]["stripe"], json!({"done": 200}));
    assert_eq!(summary["bad_rows"][0]["line"], 13);
    assert!(ws.path().join("dsr-batch-closed/summary.json.sig").exists());

    // The same file again: everyone is already done; nothing is written anywhere.
    let r = run(ws.dsr().args([
        "--json",
        "batch",
        "erase",
        "closed.csv",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 2);
    let again = read_json(&ws.path().join("dsr-batch-closed/summary.json"));
    assert_eq!(again["outcomes"], json!({"skipped": 200}));
    assert_eq!(fake.calls("DELETE /v1/customers/"), deletes);
    let text = std::fs::read_to_string(ws.path().join("dsr-batch-closed/summary.json")).unwrap();
    assert!(!text.contains("@example.com"), "the summary names no one");
    pg_exec(&["DROP SCHEMA dsr_it_batch_e CASCADE"]);
    mysql_exec(&["DROP DATABASE dsr_it_batch_e"]);
}

#[test]
fn strict_runs_nothing_when_a_row_is_bad_and_failed_rows_run_again() {
    let ws = crate::export_sqlite::demo_workspace();
    ws.write("b.csv", "email\nalice@example.com\nbob@@example.com\n");
    let r = run(ws.dsr().args([
        "batch",
        "export",
        "b.csv",
        "--playbook",
        "demo.yaml",
        "--strict",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("b.csv:3:") && r.stderr.contains("nothing was run"),
        "{}",
        r.stderr
    );
    assert!(!ws.path().join("dsr-batch-b").exists());

    ws.write("c.csv", "email,user_id\nalice@example.com,\n,2\n");
    let r = run(ws.dsr().args([
        "--json",
        "batch",
        "export",
        "c.csv",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let summary = read_json(&ws.path().join("dsr-batch-c/summary.json"));
    assert_eq!(summary["outcomes"], json!({"done": 2}));
    let report = summary["results"][1]["report"].as_str().unwrap();
    let v = run(ws.dsr().args(["verify", report]));
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    let wrong = run(ws
        .dsr()
        .args([
            "batch",
            "export",
            "c.csv",
            "--playbook",
            "demo.yaml",
            "--strict",
        ])
        .env("DSR_CONCURRENCY", "2"));
    assert_eq!(wrong.code, 0, "a rerun skips what is done");
    let r = run(ws
        .dsr()
        .args(["batch", "erase", "c.csv", "--playbook", "demo.yaml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("needs --yes"), "{}", r.stderr);
}
