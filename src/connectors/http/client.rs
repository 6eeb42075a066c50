//! One call to the API: URL and body from templates, credentials, the shared rate limit, and
//! the error mapping every vendor needs — 404 and configured answers mean "no data", 401/403
//! fail at once, 429 waits as long as `Retry-After` says, 5xx is retried with backoff.

use super::auth::Auth;
use super::definition::{self, Method, RequestDef, scalar_text};
use super::error::HttpError;
use super::ratelimit::{MAX_RETRY_AFTER, RateLimiter, retry_after};
use super::template::{self, Encoding, Vars};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;


/// Largest answer body read.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

pub struct Client {
    pub system: String,
    pub base_url: String,
    pub insecure_http: bool,
    pub http: reqwest::Client,
    /// The system's `timeout:`, for each call (from connecting to the end of the answer).
    pub timeout: Duration,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub headers: Vec<(String, String)>,
    /// Retries of one call after a 429 or a 5xx.
    pub retries: u32,
}

/// A 2xx answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    /// The raw text (for the webhook's outcome and `no_data` body checks).
    pub text: String,
}

/// What a call came to.
#[derive(Debug)]
pub enum Reply {
    Ok(Answer),
    /// 404, or an answer listed in `no_data`.
    NoData,
}

/// Where a call goes: the definition's path, or a full URL from the previous page.
pub enum Target<'a> {
    Path,
    Url(&'a str),
}

/// Extra parameters set by pagination.
#[derive(Default, Clone)]
pub struct PageParams {
    pub query: Vec<(String, String)>,
    pub body: Vec<(String, Value)>,
}

impl Client {
    /// The method and path template: how calls are named in errors and logs.
    pub fn label(req: &RequestDef) -> String {
        format!("{} {}", req.method.as_str(), req.path)
    }

    fn url(&self, req: &RequestDef, vars: &Vars, target: &Target<'_>) -> Result<String, HttpError> {
        let label = Self::label(req);
        let url = match target {
            Target::Path => {
                let path = template::render(&req.path, vars, Encoding::PathSegment)
                    .map_err(|e| HttpError::Config(format!("{label}: {e}")))?;
                format!("{}{}", self.base_url.trim_end_matches('/'), path)
            }
            Target::Url(u) => {
                // A next-page URL must stay on the API's origin: credentials go with it.
                let base = url::Url::parse(&self.base_url)
                    .map_err(|_| HttpError::Config("the base URL is not valid".into()))?;
                let next = url::Url::parse(u).or_else(|_| base.join(u)).map_err(|_| {
                    HttpError::Answer {
                        call: label.clone(),
                        message: "the next-page link is not a URL".into(),
                    }
                })?;
                if next.origin() != base.origin() {
                    return Err(HttpError::Answer {
                        call: label,
                        message: "the next-page link points to another host; not followed".into(),
                    });
                }
                next.to_string()
            }
        };
        definition::transport_allowed(&url, self.insecure_http).map_err(HttpError::Config)?;
        Ok(url)
    }

    fn build(
        &self,
        req: &RequestDef,
        vars: &Vars,
        target: &Target<'_>,
        page: &PageParams,
        fields: Option<&serde_json::Map<String, Value>>,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let label = Self::label(req);
        let cfg = |e: template::TemplateError| HttpError::Config(format!("{label}: {e}"));
        let url = self.url(req, vars, target)?;
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self.http.request(method, &url).timeout(self.timeout);
        for (k, v) in &self.headers {
            rb = rb.header(
                k.as_str(),
                template::render(v, vars, Encoding::Raw).map_err(cfg)?,
            );
        }
        for (k, v) in &req.headers {
            rb = rb.header(
                k.as_str(),
                template::render(v, vars, Encoding::Raw).map_err(cfg)?,
            );
        }
        if matches!(target, Target::Path) {
            let mut query: Vec<(String, String)> = Vec::new();
            for (k, v) in &req.query {
                query.push((
                    k.clone(),
                    template::render(v, vars, Encoding::Raw).map_err(cfg)?,
                ));
            }
            query.retain(|(k, _)| !page.query.iter().any(|(pk, _)| pk == k));
            query.extend(page.query.iter().cloned());
            if !query.is_empty() {
                rb = rb.query(&query);
            }
        } else if !page.query.is_empty() {
            rb = rb.query(&page.query);
        }
        let mut body = match &req.body {
            Some(b) => Some(render_json(b, vars).map_err(cfg)?),
            None => None,
        };
        for (path, v) in &page.body {
            let b = body.get_or_insert_with(|| Value::Object(Default::default()));
            definition::set_path(b, path, v.clone());
        }
        let mut form: Vec<(String, String)> = Vec::new();
        for (k, v) in &req.form {
            form.push((
                k.clone(),
                template::render(v, vars, Encoding::Raw).map_err(cfg)?,
            ));
        }
        if let Some(fields) = fields {
            if req.fields_as_form {
                for (k, v) in fields {
                    let key = match &req.fields_under {
                        Some(under) => format!("{under}[{k}]"),
                        None => k.clone(),
                    };
                    form.push((key, scalar_text(v).unwrap_or_default()));
                }
            } else {
                let b = body.get_or_insert_with(|| Value::Object(Default::default()));
                for (k, v) in fields {
                    let path = match &req.fields_under {
                        Some(under) => format!("{under}.{k}"),
                        None => k.clone(),
                    };
                    definition::set_path(b, &path, v.clone());
                }
            }
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        } else if !form.is_empty() {
            rb = rb.form(&form);
        }
        Ok(rb)
    }

    /// Makes one call, retrying 429 and 5xx answers up to `retries` times.
    pub async fn call(
        &self,
        req: &RequestDef,
        vars: &Vars,
        target: Target<'_>,
        page: &PageParams,
        fields: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Reply, HttpError> {
        let label = Self::label(req);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let rb = self.build(req, vars, &target, page, fields)?;
            self.limiter.acquire().await;
            let rb = self.auth.apply(&self.http, rb, &self.system).await?;
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let err = HttpError::network(&label, &e);
                    if err.is_transient() && attempt <= self.retries {
                        tokio::time::sleep(crate::run::retry::backoff(attempt)).await;
                        continue;
                    }
                    return Err(err.after(attempt));
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = read_body(resp)
                .await
                .map_err(|e| HttpError::network(&label, &e))?;
            match status {
                200..=299 => {
                    let body = if text.trim().is_empty() {
                        Value::Null
                    } else {
                        match serde_json::from_str(&text) {
                            Ok(v) => v,
                            // Records are read from JSON only; an HTML page (a proxy's
                            // login screen, say) must not become an empty export.
                            Err(_) if req.records.is_some() || req.job.is_some() => {
                                return Err(HttpError::Answer {
                                    call: label,
                                    message: "the answer is not JSON".into(),
                                });
                            }
                            Err(_) => Value::Null,
                        }
                    };
                    if let Some(cond) = &req.gone_when
                        && definition::select(&body, &cond.path) == Some(&cond.equals)
                    {
                        return Ok(Reply::NoData);
                    }
                    if let Some(path) = &req.error_when
                        && definition::select(&body, path).is_some_and(is_present)
                    {
                        return Err(HttpError::Answer {
                            call: label,
                            message: format!("the answer reports an error at `{path}`"),
                        });
                    }
                    return Ok(Reply::Ok(Answer {
                        status,
                        headers,
                        body,
                        text,
                    }));
                }
                401 | 403 => {
                    self.auth.invalidate().await;
                    return Err(HttpError::Auth {
                        system: self.system.clone(),
                        status,
                    });
                }
                404 => return Ok(Reply::NoData),
                _ => {}
            }
            if req.no_data.iter().any(|nd| {
                nd.status == status
                    && nd
                        .body_contains
                        .as_deref()
                        .is_none_or(|needle| text.contains(needle))
            }) {
                return Ok(Reply::NoData);
            }
            if status == 429 || status >= 500 {
                if attempt <= self.retries {
                    let wait = if status == 429 {
                        match retry_after(&headers, jiff::Timestamp::now()) {
                            Some(w) if w > MAX_RETRY_AFTER => {
                                return Err(HttpError::Status {
                                    call: label,
                                    status,
                                    transient: true,
                                });
                            }
                            Some(w) => w,
                            None => crate::run::retry::backoff(attempt),
                        }
                    } else {
                        crate::run::retry::backoff(attempt)
                    };
                    tracing::warn!(system = %self.system, call = %label, status, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(HttpError::Status {
                    call: label,
                    status,
                    transient: true,
                }
                .after(attempt));
            }
            return Err(HttpError::Status {
                call: label,
                status,
                transient: false,
            });
        }
    }
}

async fn read_body(mut resp: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Bool(b) => *b,
        Value::Number(_) => true,
    }
}

/// Every string in a JSON body template, filled.
pub fn render_json(v: &Value, vars: &Vars) -> Result<Value, template::TemplateError> {
    Ok(match v {
        Value::String(s) => Value::String(template::render(s, vars, Encoding::Raw)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_json(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_json(x, vars)?)))
                .collect::<Result<_, template::TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// Sends the request `build` makes, once and up to `retries` more times on network failures
/// and 429 or 5xx answers (waiting as `Retry-After` says when it is short enough, else
/// backing off); 401 and 403 fail at once as rejected credentials. `build` is called for each
/// try, so a request that signs its time is signed afresh. Returns a 2xx answer's status and
/// text. Calls that spent their retries fail as [`HttpError::Exhausted`].
pub async fn send_retrying(
    system: &str,
    label: &str,
    retries: u32,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(u16, String), HttpError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let resp = match build().send().await {
            Ok(r) => r,
            Err(e) => {
                let err = HttpError::network(label, &e);
                if err.is_transient() && attempt <= retries {
                    tokio::time::sleep(crate::run::retry::backoff(attempt)).await;
                    continue;
                }
                return Err(err.after(attempt));
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        match status {
            200..=299 => return Ok((status, text)),
            401 | 403 => {
                return Err(HttpError::Auth {
                    system: system.to_string(),
                    status,
                });
            }
            429 | 500..=599 if attempt <= retries => {
                let wait = retry_after(&headers, jiff::Timestamp::now())
                    .filter(|w| *w <= MAX_RETRY_AFTER)
                    .unwrap_or_else(|| crate::run::retry::backoff(attempt));
                tokio::time::sleep(wait).await;
            }
            _ => {
                return Err(HttpError::Status {
                    call: label.to_string(),
                    status,
                    transient: status == 429 || status >= 500,
                }
                .after(attempt));
            }
        }
    }
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub fn link_next(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all("link") {
        let text = value.to_str().ok()?;
        for part in text.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            "<https://s.example/a?page_info=p1>; rel=\"previous\", <https://s.example/a?page_info=p3>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            link_next(&h).as_deref(),
            Some("https://s.example/a?page_info=p3")
        );
        h.insert(
            "link",
            "<https://s.example/a?p=1>; rel=\"previous\""
                .parse()
                .unwrap(),
        );
        assert_eq!(link_next(&h), None);
    }
}
