//! In-process fakes of SaaS APIs, on 127.0.0.1, reproducing each vendor's documented
//! behaviour for the calls dsr makes: search, paging, deletion semantics, error answers.
//!
//! Every fake shares a gate that records each request (`METHOD /path?query`), checks the
//! vendor's kind of credentials (401 otherwise), and can be told to answer the next N
//! requests with 429 and a `Retry-After`. Page sizes are deliberately tiny (2) so that every
//! paginated search spans several pages.

pub mod auth0;
pub mod hubspot;
pub mod intercom;
pub mod klaviyo;
pub mod mailchimp;
pub mod opendsr;
pub mod segment;
pub mod sendgrid;
pub mod shopify;
pub mod stripe;
pub mod webhook;
pub mod zendesk;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The page size every fake uses.
pub const PAGE: usize = 2;

pub type Check = Box<dyn Fn(&HeaderMap, &str) -> bool + Send + Sync>;

/// State shared by a fake's handlers.
pub struct Fake {
    /// `METHOD /path?query` of every request, in arrival order.
    pub log: Mutex<Vec<String>>,
    /// Bodies of every request, in arrival order.
    pub bodies: Mutex<Vec<String>>,
    /// Answer this many of the next requests with 429.
    pub throttle: AtomicU32,
    pub retry_after: Mutex<String>,
    /// Credential check: headers and the query string.
    pub auth: Check,
    /// Paths that need no credentials (token endpoints).
    pub open_paths: Vec<&'static str>,
    /// The vendor's data: collection -> records.
    pub db: Mutex<BTreeMap<String, Vec<Value>>>,
    /// Counters for anything a test wants to count (token grants, polls).
    pub counters: Mutex<BTreeMap<String, u32>>,
}

impl Fake {
    pub fn new(auth: Check) -> Self {
        Self {
            log: Mutex::default(),
            bodies: Mutex::default(),
            throttle: AtomicU32::new(0),
            retry_after: Mutex::new("1".into()),
            auth,
            open_paths: Vec::new(),
            db: Mutex::default(),
            counters: Mutex::default(),
        }
    }

    pub fn seed(&self, collection: &str, records: Vec<Value>) {
        self.db
            .lock()
            .unwrap()
            .insert(collection.to_string(), records);
    }

    pub fn records(&self, collection: &str) -> Vec<Value> {
        self.db
            .lock()
            .unwrap()
            .get(collection)
            .cloned()
            .unwrap_or_default()
    }

    /// Records of `collection` where `field` equals `value`.
    pub fn find(&self, collection: &str, field: &str, value: &str) -> Vec<Value> {
        self.records(collection)
            .into_iter()
            .filter(|r| same(&r[field], value))
            .collect()
    }

    /// Removes the records of `collection` whose `field` equals `value`; returns how many.
    pub fn remove(&self, collection: &str, field: &str, value: &str) -> usize {
        let mut db = self.db.lock().unwrap();
        let list = db.entry(collection.to_string()).or_default();
        let before = list.len();
        list.retain(|r| !(same(&r[field], value)));
        before - list.len()
    }

    /// Changes a record in place; false when there is none.
    pub fn update(
        &self,
        collection: &str,
        field: &str,
        value: &str,
        f: impl Fn(&mut Value),
    ) -> bool {
        let mut db = self.db.lock().unwrap();
        let list = db.entry(collection.to_string()).or_default();
        match list.iter_mut().find(|r| same(&r[field], value)) {
            Some(r) => {
                f(r);
                true
            }
            None => false,
        }
    }

    pub fn bump(&self, counter: &str) -> u32 {
        let mut c = self.counters.lock().unwrap();
        let n = c.entry(counter.to_string()).or_default();
        *n += 1;
        *n
    }

    pub fn count(&self, counter: &str) -> u32 {
        self.counters
            .lock()
            .unwrap()
            .get(counter)
            .copied()
            .unwrap_or(0)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose `METHOD /path` starts with `prefix`.
    pub fn calls(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    /// The next `n` requests get 429 with this `Retry-After`.
    pub fn throttle_next(&self, n: u32, retry_after: &str) {
        *self.retry_after.lock().unwrap() = retry_after.to_string();
        self.throttle.store(n, Ordering::SeqCst);
    }
}

async fn gate(State(fake): State<Arc<Fake>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let query = req.uri().query().unwrap_or("").to_string();
    fake.log
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), pq));
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    fake.bodies
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&bytes).into_owned());
    let throttled = fake
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if throttled {
        let wait = fake.retry_after.lock().unwrap().clone();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", wait)],
            r#"{"error":"rate limited"}"#,
        )
            .into_response();
    }
    if !fake.open_paths.contains(&path.as_str()) && !(fake.auth)(&parts.headers, &query) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid credentials"}"#,
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Serves `router` (with the gate in front) on a free loopback port; returns the base URL.
pub fn serve(fake: Arc<Fake>, router: Router<Arc<Fake>>) -> String {
    let app = router
        .layer(axum::middleware::from_fn_with_state(fake.clone(), gate))
        .with_state(fake);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

/// A field equals a value given as text (ids may be numbers).
pub fn same(field: &Value, value: &str) -> bool {
    match field {
        Value::String(s) => s == value,
        Value::Number(n) => n.to_string() == value,
        _ => false,
    }
}

/// Credentials checks.
pub fn bearer(token: &'static str) -> Check {
    Box::new(move |h, _| {
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"))
    })
}

pub fn basic(user: &'static str, password: &'static str) -> Check {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    Box::new(move |h, _| h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&expected))
}

pub fn header(name: &'static str, value: &'static str) -> Check {
    Box::new(move |h, _| h.get(name).and_then(|v| v.to_str().ok()) == Some(value))
}

/// The base URL the client used (for next-page links).
pub fn origin(headers: &HeaderMap) -> String {
    format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
    )
}

/// One page of `items` from `start`, and the start of the next page if any.
pub fn page(items: &[Value], start: usize) -> (Vec<Value>, Option<usize>) {
    let end = (start + PAGE).min(items.len());
    let slice = items.get(start..end).unwrap_or(&[]).to_vec();
    (slice, (end < items.len()).then_some(end))
}

pub fn json(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"error": "not found"}),
    )
}
