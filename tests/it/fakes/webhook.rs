//! An internal erasure service behind a signed webhook: it checks the HMAC-SHA256 signature
//! over `timestamp.body` and answers with what it did.

use super::{Fake, json, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;

pub const SECRET: &str = "whsec-good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(Box::new(|_, _| true)));
    let router = Router::new().route("/dsr", post(receive));
    let url = serve(fake.clone(), router);
    (fake, format!("{url}/dsr"))
}

async fn receive(State(f): State<Arc<Fake>>, h: HeaderMap, body: Bytes) -> Response {
    let ts: i64 = h
        .get("x-dsr-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let expected = dsr::connectors::webhook::signature(SECRET.as_bytes(), ts, &body);
    if h.get("x-dsr-signature").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return json(StatusCode::UNAUTHORIZED, json!({"error": "bad signature"}));
    }
    let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
    f.bump(payload["action"].as_str().unwrap_or("?"));
    match payload["action"].as_str() {
        Some("export") => json(
            StatusCode::OK,
            json!({"records": [{"id": "t-1", "kind": "loyalty card", "points": 120}]}),
        ),
        Some("erase") => json(
            StatusCode::OK,
            json!({"status": "queued", "ticket": "ERA-42", "padding": "x".repeat(2000)}),
        ),
        _ => json(StatusCode::OK, json!({"records": []})),
    }
}
