//! Klaviyo: profiles filtered by `equals(email,"…")`, paged with `links.next`; a revision
//! header on every call; data-privacy deletion jobs (202, no body).

use super::{Fake, json, origin, page, serve};
use axum::Router;
use axum::extract::{Json, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY: &str = "pk_good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(Box::new(|h, _| {
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Klaviyo-API-Key pk_good")
            && h.get("revision").is_some()
    })));
    let p = |id: &str, email: &str| json!({"type": "profile", "id": id, "attributes": {"email": email}});
    fake.seed(
        "profiles",
        vec![
            p("01A", "alice@example.com"),
            p("01B", "alice@example.com"),
            p("01C", "alice@example.com"),
            p("01D", "bob@example.com"),
        ],
    );
    let router = Router::new()
        .route("/api/profiles", get(profiles))
        .route("/api/profiles/{id}", get(profile))
        .route("/api/data-privacy-deletion-jobs", post(deletion_job));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn profiles(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let filter = q.get("filter").cloned().unwrap_or_default();
    let Some(email) = filter
        .strip_prefix("equals(email,\"")
        .and_then(|r| r.strip_suffix("\")"))
    else {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"code": "invalid"}]}),
        );
    };
    let found: Vec<Value> = f
        .records("profiles")
        .into_iter()
        .filter(|p| p["attributes"]["email"] == email)
        .collect();
    let start: usize = q
        .get("page[cursor]")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (data, next) = page(&found, start);
    let next = next.map(|n| {
        let filter = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        format!(
            "{}/api/profiles?filter={filter}&page%5Bcursor%5D={n}",
            origin(&h)
        )
    });
    json(
        StatusCode::OK,
        json!({"data": data, "links": {"self": "", "next": next}}),
    )
}

async fn profile(
    State(f): State<Arc<Fake>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match f.find("profiles", "id", &id).into_iter().next() {
        Some(p) => json(StatusCode::OK, json!({"data": p})),
        None => json(
            StatusCode::NOT_FOUND,
            json!({"errors": [{"code": "not_found"}]}),
        ),
    }
}

async fn deletion_job(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let d = &body["data"];
    let id = d["attributes"]["profile"]["data"]["id"]
        .as_str()
        .unwrap_or("");
    if d["type"] != "data-privacy-deletion-job" {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"code": "invalid"}]}),
        );
    }
    if f.remove("profiles", "id", id) == 0 {
        return json(
            StatusCode::NOT_FOUND,
            json!({"errors": [{"code": "not_found"}]}),
        );
    }
    StatusCode::ACCEPTED.into_response()
}
