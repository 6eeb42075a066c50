//! Segment Public API: regulations (SUPPRESS_WITH_DELETE by user id) that finish
//! asynchronously.

use super::{Fake, bearer, json, not_found, serve};
use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub const TOKEN: &str = "sgp_good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(TOKEN)));
    let router = Router::new()
        .route("/regulations", post(create))
        .route("/regulations/{id}", get(status));
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn create(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    if body["regulationType"] != "SUPPRESS_WITH_DELETE" || body["subjectType"] != "USER_ID" {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"message": "invalid regulation"}]}),
        );
    }
    let id = format!("reg-{}", f.bump("regulations"));
    f.seed(
        &format!("regulation:{id}"),
        body["subjectIds"].as_array().cloned().unwrap_or_default(),
    );
    json(StatusCode::OK, json!({"data": {"regulateId": id}}))
}

async fn status(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    if f.records(&format!("regulation:{id}")).is_empty() {
        return not_found();
    }
    json(
        StatusCode::OK,
        json!({"data": {"regulation": {"id": id, "overallStatus": "FINISHED"}}}),
    )
}
