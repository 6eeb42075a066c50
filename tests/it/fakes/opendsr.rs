//! A processor speaking OpenDSR: discovery, request submission (checks the controller's
//! request id is a lowercase UUID v4 and the type is supported) and status, which moves
//! pending → in_progress → completed on successive reads (or stays pending when told to).

use super::{Fake, bearer, json, not_found, serve};
use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub const TOKEN: &str = "odsr-good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(TOKEN)));
    let router = Router::new()
        .route("/discovery", get(discovery))
        .route("/requests", post(submit))
        .route("/requests/{id}", get(status));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn discovery() -> Response {
    json(
        StatusCode::OK,
        json!({
            "api_version": "0.1",
            "supported_identities": [
                {"identity_type": "email", "identity_format": "raw"},
                {"identity_type": "email", "identity_format": "sha256"}
            ],
            "supported_subject_request_types": ["access", "portability", "erasure"],
            "processor_certificate": "https://processor.example/cert.pem"
        }),
    )
}

async fn submit(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let id = body["subject_request_id"].as_str().unwrap_or("");
    let v4 = uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4)
        && id == id.to_lowercase();
    let known_type = matches!(
        body["subject_request_type"].as_str(),
        Some("access" | "portability" | "erasure")
    );
    if !v4
        || !known_type
        || body["regulation"] != "gdpr"
        || body["submitted_time"].as_str().is_none()
    {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "message": "invalid request"}}),
        );
    }
    f.seed(&format!("request:{id}"), vec![body.clone()]);
    f.bump(body["subject_request_type"].as_str().unwrap_or("?"));
    json(
        StatusCode::CREATED,
        json!({
            "controller_id": "acme",
            "subject_request_id": id,
            "expected_completion_time": "2026-12-01T00:00:00Z",
            "received_time": "2026-11-23T12:00:00Z",
            "encoded_request": "e30=",
            "processor_signature": "sig"
        }),
    )
}

async fn status(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let Some(req) = f.records(&format!("request:{id}")).into_iter().next() else {
        return not_found();
    };
    let reads = f.bump(&format!("reads:{id}"));
    let status = if f.count("stuck") > 0 {
        "pending"
    } else {
        match reads {
            1 => "pending",
            2 => "in_progress",
            _ => "completed",
        }
    };
    let mut answer = json!({
        "controller_id": "acme",
        "subject_request_id": id,
        "request_status": status,
        "expected_completion_time": "2026-12-01T00:00:00Z",
        "api_version": "0.1"
    });
    if status == "completed" && req["subject_request_type"] == "access" {
        answer["results_url"] = json!(format!("https://processor.example/results/{id}"));
        answer["results_count"] = json!(3);
    }
    json(StatusCode::OK, answer)
}
