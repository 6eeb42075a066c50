//! Shopify Admin: customer search and orders paged with the `Link` header (`page_info`), and
//! data erasure through GraphQL `customerRequestDataErasure`, whose failures come back as
//! `userErrors` in a 200 answer.

use super::{Fake, header, json, not_found, origin, page, serve};
use axum::Router;
use axum::extract::{Json, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const TOKEN: &str = "shpat_good";
const API: &str = "/admin/api/2024-10";

pub fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(header("x-shopify-access-token", TOKEN)));
    fake.seed(
        "customers",
        vec![
            json!({"id": 7001, "email": "alice@example.com", "first_name": "Alice"}),
            json!({"id": 7002, "email": "bob@example.com", "first_name": "Bob"}),
        ],
    );
    let orders = (1..=5)
        .map(|i| json!({"id": 8000 + i, "customer_id": 7001, "name": format!("#100{i}")}))
        .collect();
    fake.seed("orders", orders);
    let router = Router::new()
        .route(&format!("{API}/customers/search.json"), get(search))
        .route(&format!("{API}/customers/{{file}}"), get(get_customer))
        .route(
            &format!("{API}/customers/{{id}}/orders.json"),
            get(list_orders),
        )
        .route(&format!("{API}/graphql.json"), post(graphql));
    let url = serve(fake.clone(), router);
    (fake, url)
}

/// `page_info` is an opaque cursor that carries the search: here `START-QUERY`.
fn cursor(q: &BTreeMap<String, String>) -> Option<(usize, String)> {
    let (start, rest) = q.get("page_info")?.split_once('-')?;
    Some((start.parse().ok()?, rest.to_string()))
}

fn paged(
    h: &HeaderMap,
    path: &str,
    all: &[Value],
    q: &BTreeMap<String, String>,
    key: &str,
    carried: &str,
) -> Response {
    let start = cursor(q).map_or(0, |(s, _)| s);
    let (items, next) = page(all, start);
    let mut resp = json(StatusCode::OK, json!({ key: items }));
    if let Some(n) = next {
        let link = format!(
            "<{}{path}?limit=2&page_info={n}-{carried}>; rel=\"next\"",
            origin(h)
        );
        resp.headers_mut().insert("link", link.parse().unwrap());
    }
    resp
}

async fn search(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    // With page_info, Shopify takes the search from the cursor, not from other parameters.
    let email = match cursor(&q) {
        Some((_, carried)) => carried,
        None => q
            .get("query")
            .and_then(|s| s.strip_prefix("email:\""))
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or("")
            .to_string(),
    };
    let all = f.find("customers", "email", &email);
    paged(
        &h,
        &format!("{API}/customers/search.json"),
        &all,
        &q,
        "customers",
        &email,
    )
}

async fn get_customer(State(f): State<Arc<Fake>>, Path(file): Path<String>) -> Response {
    let id = file.trim_end_matches(".json");
    match f.find("customers", "id", id).into_iter().next() {
        Some(c) => json(StatusCode::OK, json!({"customer": c})),
        None => not_found(),
    }
}

async fn list_orders(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let all = f.find("orders", "customer_id", &id);
    paged(
        &h,
        &format!("{API}/customers/{id}/orders.json"),
        &all,
        &q,
        "orders",
        "",
    )
}

async fn graphql(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let query = body["query"].as_str().unwrap_or("");
    if !query.contains("customerRequestDataErasure(customerId: $customerId) {") {
        return (
            StatusCode::OK,
            Json(json!({"errors": [{"message": "parse error"}]})),
        )
            .into_response();
    }
    let gid = body["variables"]["customerId"].as_str().unwrap_or("");
    let id = gid.strip_prefix("gid://shopify/Customer/").unwrap_or("");
    let errors = if f.remove("customers", "id", id) == 1 {
        json!([])
    } else {
        json!([{"field": ["customerId"], "message": "Customer does not exist"}])
    };
    json(
        StatusCode::OK,
        json!({"data": {"customerRequestDataErasure": {"customerId": gid, "userErrors": errors}}}),
    )
}
