//! Stripe: customer search (`email:'…'`, `next_page`/`page`), lists per customer with
//! `starting_after`/`has_more`, DELETE customer (a deleted customer answers GET with
//! `deleted: true`), form-encoded updates.

use super::{Fake, bearer, json, not_found, page, serve};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY: &str = "sk_test_good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(KEY)));
    let cust = |id: &str, email: &str, name: &str| json!({"id": id, "object": "customer", "email": email, "name": name});
    fake.seed(
        "customers",
        vec![
            cust("cus_A1", "alice@example.com", "Alice Andersen"),
            cust("cus_B1", "bob@example.com", "Bob Brown"),
            cust("cus_A2", "alice@example.com", "Alice A."),
            cust("cus_A3", "alice@example.com", "A. Andersen"),
        ],
    );
    let charges = (1..=5)
        .map(|i| json!({"id": format!("ch_{i}"), "object": "charge", "customer": "cus_A1", "amount": 1000 * i, "currency": "eur"}))
        .chain([json!({"id": "ch_b", "object": "charge", "customer": "cus_B1", "amount": 5, "currency": "eur"})])
        .collect();
    fake.seed("charges", charges);
    fake.seed(
        "invoices",
        vec![json!({"id": "in_1", "object": "invoice", "customer": "cus_A2", "total": 4200})],
    );
    let router = Router::new()
        .route("/v1/customers/search", get(search))
        .route(
            "/v1/customers/{id}",
            get(get_customer)
                .delete(delete_customer)
                .post(update_customer),
        )
        .route("/v1/charges", get(|s, q| list(s, q, "charges")))
        .route("/v1/invoices", get(|s, q| list(s, q, "invoices")));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn search(State(f): State<Arc<Fake>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    // Only the query form dsr's definition uses: email:'ADDRESS'.
    let query = q.get("query").cloned().unwrap_or_default();
    let Some(email) = query
        .strip_prefix("email:'")
        .and_then(|r| r.strip_suffix('\''))
    else {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Invalid search query"}}),
        );
    };
    let found = f.find("customers", "email", email);
    let start: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let (data, next) = page(&found, start);
    json(
        StatusCode::OK,
        json!({"object": "search_result", "data": data, "has_more": next.is_some(), "next_page": next.map(|n| n.to_string())}),
    )
}

async fn list(
    State(f): State<Arc<Fake>>,
    Query(q): Query<BTreeMap<String, String>>,
    what: &str,
) -> Response {
    let customer = q.get("customer").cloned().unwrap_or_default();
    let all = f.find(what, "customer", &customer);
    let start = match q.get("starting_after") {
        Some(after) => match all.iter().position(|c| c["id"] == after.as_str()) {
            Some(i) => i + 1,
            None => {
                return json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"message": "No such object"}}),
                );
            }
        },
        None => 0,
    };
    let (data, next) = page(&all, start);
    json(
        StatusCode::OK,
        json!({"object": "list", "data": data, "has_more": next.is_some()}),
    )
}

async fn get_customer(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    if f.count(&format!("deleted:{id}")) > 0 {
        return json(
            StatusCode::OK,
            json!({"id": id, "object": "customer", "deleted": true}),
        );
    }
    match f.find("customers", "id", &id).into_iter().next() {
        Some(c) => json(StatusCode::OK, c),
        None => not_found(),
    }
}

async fn delete_customer(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    if f.remove("customers", "id", &id) == 0 {
        return not_found();
    }
    f.bump(&format!("deleted:{id}"));
    json(
        StatusCode::OK,
        json!({"id": id, "object": "customer", "deleted": true}),
    )
}

async fn update_customer(
    State(f): State<Arc<Fake>>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let ok = f.update("customers", "id", &id, |c| {
        for (k, v) in &form {
            c[k] = Value::String(v.clone());
        }
    });
    if ok {
        json(StatusCode::OK, f.find("customers", "id", &id)[0].clone())
    } else {
        not_found()
    }
}
