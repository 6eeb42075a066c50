//! HubSpot CRM: contact search (POST, filterGroups, `after` in the body, `paging.next.after`
//! in the answer) and GDPR delete.

use super::{Fake, bearer, json, not_found, page, serve};
use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub const TOKEN: &str = "pat-eu1-good";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(bearer(TOKEN)));
    let c = |id: &str, email: &str, first: &str| json!({"id": id, "properties": {"email": email, "firstname": first}, "archived": false});
    fake.seed(
        "contacts",
        vec![
            c("501", "alice@example.com", "Alice"),
            c("502", "alice@example.com", "Ali"),
            c("503", "bob@example.com", "Bob"),
            c("504", "alice@example.com", "A."),
        ],
    );
    let router = Router::new()
        .route("/crm/v3/objects/contacts/search", post(search))
        .route("/crm/v3/objects/contacts/gdpr-delete", post(gdpr_delete))
        .route(
            "/crm/v3/objects/contacts/{id}",
            get(get_contact).patch(update),
        );
    let url = serve(fake.clone(), router);
    (fake, url)
}

async fn search(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let filter = &body["filterGroups"][0]["filters"][0];
    if filter["propertyName"] != "email" || filter["operator"] != "EQ" {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"status": "error", "message": "unsupported filter"}),
        );
    }
    let email = filter["value"].as_str().unwrap_or("");
    let found: Vec<Value> = f
        .records("contacts")
        .into_iter()
        .filter(|c| c["properties"]["email"] == email)
        .collect();
    let start: usize = body["after"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let (results, next) = page(&found, start);
    let mut answer = json!({"total": found.len(), "results": results});
    if let Some(n) = next {
        answer["paging"] = json!({"next": {"after": n.to_string()}});
    }
    json(StatusCode::OK, answer)
}

async fn gdpr_delete(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let id = body["objectId"].as_str().unwrap_or("");
    if f.remove("contacts", "id", id) == 0 {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn get_contact(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    match f.find("contacts", "id", &id).into_iter().next() {
        Some(c) => json(StatusCode::OK, c),
        None => not_found(),
    }
}

async fn update(
    State(f): State<Arc<Fake>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let ok = f.update("contacts", "id", &id, |c| {
        if let Some(props) = body["properties"].as_object() {
            for (k, v) in props {
                c["properties"][k] = v.clone();
            }
        }
    });
    if ok {
        json(StatusCode::OK, f.find("contacts", "id", &id)[0].clone())
    } else {
        not_found()
    }
}
