//! SendGrid Marketing Campaigns: contact search by SGQL query; deletion answers 202 with a
//! job id, whose status is read at the imports endpoint (pending, then completed).

use super::{Fake, bearer, json, not_found, serve};
use axum::Router;
use axum::extract::{Json, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY: &str = "SG.good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(KEY)));
    fake.seed(
        "contacts",
        vec![
            json!({"id": "sg-a", "email": "alice@example.com", "first_name": "Alice", "list_ids": ["l1"]}),
            json!({"id": "sg-b", "email": "bob@example.com", "first_name": "Bob"}),
        ],
    );
    let router = Router::new()
        .route("/v3/marketing/contacts/search", post(search))
        .route(
            "/v3/marketing/contacts",
            axum::routing::delete(delete_contacts),
        )
        .route("/v3/marketing/contacts/{id}", get(get_contact))
        .route("/v3/marketing/contacts/imports/{job}", get(job_status));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn search(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let q = body["query"].as_str().unwrap_or("");
    let Some(email) = q
        .strip_prefix("email = '")
        .and_then(|r| r.strip_suffix('\''))
    else {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"message": "invalid query"}]}),
        );
    };
    let found = f.find("contacts", "email", email);
    json(
        StatusCode::OK,
        json!({"result": found, "contact_count": found.len()}),
    )
}

async fn get_contact(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    match f.find("contacts", "id", &id).into_iter().next() {
        Some(c) => json(StatusCode::OK, c),
        None => not_found(),
    }
}

async fn delete_contacts(
    State(f): State<Arc<Fake>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let ids = q.get("ids").cloned().unwrap_or_default();
    let job = format!("job-{}", f.bump("jobs"));
    // The contacts go when the job completes.
    f.seed(&format!("job:{job}"), vec![json!(ids)]);
    json(StatusCode::ACCEPTED, json!({"job_id": job}))
}

async fn job_status(State(f): State<Arc<Fake>>, Path(job): Path<String>) -> Response {
    let pending = f.records(&format!("job:{job}"));
    let Some(ids) = pending.first().and_then(Value::as_str).map(String::from) else {
        return not_found();
    };
    // First poll: pending; then completed.
    if f.bump(&format!("polls:{job}")) < 2 {
        return json(StatusCode::OK, json!({"id": job, "status": "pending"}));
    }
    for id in ids.split(',') {
        f.remove("contacts", "id", id);
    }
    json(
        StatusCode::OK,
        json!({"id": job, "status": "completed", "results": {"deleted_count": 1}}),
    )
}
