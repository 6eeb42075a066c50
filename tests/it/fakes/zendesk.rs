//! Zendesk Support: user search with `next_page` URLs, requested tickets, and permanent
//! deletion, which only works on a user that was soft-deleted first.

use super::{Fake, basic, json, not_found, origin, page, serve};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const USER: &str = "agent@acme.test/token";
pub const TOKEN: &str = "zd-good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(basic(USER, TOKEN)));
    fake.seed(
        "users",
        vec![
            json!({"id": 101, "name": "Alice Andersen", "email": "alice@example.com", "phone": "+44 1234"}),
            json!({"id": 102, "name": "Bob Brown", "email": "bob@example.com"}),
        ],
    );
    let tickets = (1..=5)
        .map(|i| json!({"id": 900 + i, "requester_id": 101, "subject": format!("Question {i}")}))
        .chain([json!({"id": 999, "requester_id": 102, "subject": "Bob's"})])
        .collect();
    fake.seed("tickets", tickets);
    let router = Router::new()
        .route("/api/v2/users/search", get(search))
        .route("/api/v2/users/{id}", get(get_user).delete(soft_delete))
        .route("/api/v2/deleted_users/{id}", delete(permanent_delete))
        .route(
            "/api/v2/users/{id}/tickets/requested",
            get(requested_tickets),
        );
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn search(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let query = q.get("query").cloned().unwrap_or_default();
    let email = query
        .strip_prefix("type:user email:\"")
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or("")
        .to_string();
    let email = email.as_str();
    let found: Vec<_> = f
        .find("users", "email", email)
        .into_iter()
        .filter(|u| u["active"] != false)
        .collect();
    let start = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .map_or(0, |p| (p - 1) * super::PAGE);
    let (users, next) = page(&found, start);
    let next_page = next.map(|n| {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        format!(
            "{}/api/v2/users/search?query={q}&page={}",
            origin(&h),
            n / super::PAGE + 1
        )
    });
    json(
        StatusCode::OK,
        json!({"users": users, "next_page": next_page, "count": found.len()}),
    )
}

async fn requested_tickets(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if f.find("users", "id", &id).is_empty() {
        return not_found();
    }
    let all = f.find("tickets", "requester_id", &id);
    let start = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .map_or(0, |p| (p - 1) * super::PAGE);
    let (tickets, next) = page(&all, start);
    let next_page = next.map(|n| {
        format!(
            "{}/api/v2/users/{id}/tickets/requested?page={}",
            origin(&h),
            n / super::PAGE + 1
        )
    });
    json(
        StatusCode::OK,
        json!({"tickets": tickets, "next_page": next_page, "count": all.len()}),
    )
}

async fn get_user(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    match f.find("users", "id", &id).into_iter().next() {
        Some(u) if u["active"] != false => json(StatusCode::OK, json!({"user": u})),
        _ => not_found(),
    }
}

async fn soft_delete(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let ok = f.update("users", "id", &id, |u| u["active"] = json!(false));
    if ok {
        json(StatusCode::OK, json!({"user": {"id": id, "active": false}}))
    } else {
        not_found()
    }
}

async fn permanent_delete(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let soft_deleted = f
        .find("users", "id", &id)
        .iter()
        .any(|u| u["active"] == false);
    if !soft_deleted {
        return not_found();
    }
    f.remove("users", "id", &id);
    json(StatusCode::OK, json!({"deleted_user": {"id": id}}))
}
