//! Mailchimp: a member is addressed by the MD5 of the lower-cased email; its activity feed
//! pages with offset/count and reports `total_items`; delete-permanent removes it for good.

use super::{Fake, basic, json, serve};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY: &str = "mc-good-us21";
pub const LIST: &str = "a1b2c3d4e5";

pub fn hash(email: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(email.trim().to_lowercase().as_bytes()))
}

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(basic("dsr", KEY)));
    let m = |email: &str, name: &str| json!({"id": hash(email), "email_address": email, "status": "subscribed", "merge_fields": {"FNAME": name}});
    fake.seed(
        "members",
        vec![m("alice@example.com", "Alice"), m("bob@example.com", "Bob")],
    );
    let activity = (1..=5)
        .map(|i| json!({"member": hash("alice@example.com"), "action": "open", "created_at": format!("2026-01-0{i}T10:00:00Z")}))
        .collect();
    fake.seed("activity", activity);
    let router = Router::new()
        .route(
            "/3.0/lists/{list}/members/{hash}",
            get(member).patch(update),
        )
        .route(
            "/3.0/lists/{list}/members/{hash}/activity-feed",
            get(activity_feed),
        )
        .route(
            "/3.0/lists/{list}/members/{hash}/actions/delete-permanent",
            post(delete_permanent),
        );
    let url = serve(fake.clone(), router);
    (fake, url)
}

fn missing() -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": "Resource Not Found", "status": 404}),
    )
}

async fn member(State(f): State<Arc<Fake>>, Path((list, h)): Path<(String, String)>) -> Response {
    if list != LIST {
        return missing();
    }
    match f.find("members", "id", &h).into_iter().next() {
        Some(m) => json(StatusCode::OK, m),
        None => missing(),
    }
}

async fn update(
    State(f): State<Arc<Fake>>,
    Path((_, h)): Path<(String, String)>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> Response {
    let ok = f.update("members", "id", &h, |m| {
        if let Some(fields) = body["merge_fields"].as_object() {
            for (k, v) in fields {
                m["merge_fields"][k] = v.clone();
            }
        }
    });
    if ok {
        json(StatusCode::OK, f.find("members", "id", &h)[0].clone())
    } else {
        missing()
    }
}

async fn activity_feed(
    State(f): State<Arc<Fake>>,
    Path((_, h)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if f.find("members", "id", &h).is_empty() {
        return missing();
    }
    let all = f.find("activity", "member", &h);
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    // The server caps `count` below what is asked, as real APIs do.
    let (activity, _) = super::page(&all, offset);
    json(
        StatusCode::OK,
        json!({"activity": activity, "total_items": all.len()}),
    )
}

async fn delete_permanent(
    State(f): State<Arc<Fake>>,
    Path((_, h)): Path<(String, String)>,
) -> Response {
    if f.remove("members", "id", &h) == 0 {
        return missing();
    }
    StatusCode::NO_CONTENT.into_response()
}
