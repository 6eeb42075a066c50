//! Intercom: contact search (POST, `pagination.starting_after` in the body,
//! `pages.next.starting_after` in the answer) and user delete requests.

use super::{Fake, bearer, json, not_found, page, serve};
use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub const TOKEN: &str = "ic-good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(TOKEN)));
    let c = |id: &str, email: &str, role: &str| json!({"type": "contact", "id": id, "role": role, "email": email});
    fake.seed(
        "contacts",
        vec![
            c("c1", "alice@example.com", "user"),
            c("c2", "alice@example.com", "lead"),
            c("c3", "alice@example.com", "lead"),
            c("c4", "bob@example.com", "user"),
        ],
    );
    let router = Router::new()
        .route("/contacts/search", post(search))
        .route("/contacts/{id}", get(get_contact))
        .route("/user_delete_requests", post(delete_request));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn search(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let q = &body["query"];
    if q["field"] != "email" || q["operator"] != "=" {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"type": "error.list", "errors": [{"code": "parameter_invalid"}]}),
        );
    }
    let found = f.find("contacts", "email", q["value"].as_str().unwrap_or(""));
    let start: usize = body["pagination"]["starting_after"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (data, next) = page(&found, start);
    let mut pages = json!({"type": "pages", "per_page": super::PAGE});
    if let Some(n) = next {
        pages["next"] = json!({"per_page": super::PAGE, "starting_after": n.to_string()});
    }
    json(
        StatusCode::OK,
        json!({"type": "list", "data": data, "total_count": found.len(), "pages": pages}),
    )
}

async fn get_contact(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    match f.find("contacts", "id", &id).into_iter().next() {
        Some(c) => json(StatusCode::OK, c),
        None => not_found(),
    }
}

async fn delete_request(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let id = body["intercom_user_id"].as_str().unwrap_or("");
    if f.remove("contacts", "id", id) == 0 {
        return not_found();
    }
    json(StatusCode::OK, json!({"id": f.bump("delete_requests")}))
}
