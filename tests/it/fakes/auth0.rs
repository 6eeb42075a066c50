//! Auth0 Management API: client-credentials tokens from /oauth/token (counted), users by
//! email (a plain list), DELETE user.

use super::{Fake, json, not_found, serve};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const CLIENT_ID: &str = "m2m-client";
pub const CLIENT_SECRET: &str = "m2m-good-secret";

pub fn start() -> (Arc<Fake>, String) {
    let mut fake = Fake::new(Box::new(|h, _| {
        h.get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer tok-"))
    }));
    fake.open_paths.push("/oauth/token");
    let fake = Arc::new(fake);
    fake.seed(
        "users",
        vec![
            json!({"user_id": "auth0|a1", "email": "alice@example.com", "name": "Alice"}),
            json!({"user_id": "google-oauth2|a2", "email": "alice@example.com", "name": "Alice G"}),
            json!({"user_id": "auth0|b1", "email": "bob@example.com", "name": "Bob"}),
        ],
    );
    let router = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/users-by-email", get(by_email))
        .route("/api/v2/users/{id}", get(get_user).delete(delete_user));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn token(State(f): State<Arc<Fake>>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let good = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        && form
            .get("audience")
            .is_some_and(|a| a.ends_with("/api/v2/"));
    if !good {
        return json(
            StatusCode::UNAUTHORIZED,
            json!({"error": "access_denied", "error_description": "Unauthorized"}),
        );
    }
    let n = f.bump("tokens");
    json(
        StatusCode::OK,
        json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 86400}),
    )
}

async fn by_email(
    State(f): State<Arc<Fake>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let email = q.get("email").cloned().unwrap_or_default();
    json(StatusCode::OK, json!(f.find("users", "email", &email)))
}

async fn get_user(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    match f.find("users", "user_id", &id).into_iter().next() {
        Some(u) => json(StatusCode::OK, u),
        None => not_found(),
    }
}

async fn delete_user(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    if f.remove("users", "user_id", &id) == 0 {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}
