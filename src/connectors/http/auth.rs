//! Authentication at run time. Secrets arrive resolved from the playbook's `auth:` and are
//! only ever written into request headers or parameters: never into errors or logs.

use super::definition::AuthDef;
use super::error::HttpError;
use crate::playbook::interpolate::Secret;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Renew an OAuth2 token this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

pub struct Auth {
    def: AuthDef,
    secrets: BTreeMap<String, Secret>,
    /// Token URL resolved against the base URL (OAuth2 only).
    token_url: Option<String>,
    audience: Option<String>,
    cached: Mutex<Option<(Secret, Instant)>>,
    /// Retries of the token call after a 429 or a 5xx.
    retries: u32,
    /// The system's `timeout:`, for the token call.
    timeout: Duration,
}

impl Auth {
    pub fn new(
        def: &AuthDef,
        secrets: BTreeMap<String, Secret>,
        base_url: &str,
        retries: u32,
        timeout: Duration,
    ) -> Result<Self, HttpError> {
        for key in def.required_keys() {
            if !secrets.contains_key(*key) {
                return Err(HttpError::Config(format!(
                    "`auth: {{ {key}: … }}` is missing for a {} connector",
                    def.kind()
                )));
            }
        }
        let (token_url, audience) = match def {
            AuthDef::Oauth2ClientCredentials {
                token_url,
                audience,
                ..
            } => {
                let url = if token_url.starts_with("http://") || token_url.starts_with("https://") {
                    token_url.clone()
                } else {
                    format!("{}{}", base_url.trim_end_matches('/'), token_url)
                };
                let audience = audience
                    .as_ref()
                    .map(|a| a.replace("{base_url}", base_url.trim_end_matches('/')));
                (Some(url), audience)
            }
            _ => (None, None),
        };
        Ok(Self {
            def: def.clone(),
            secrets,
            token_url,
            audience,
            cached: Mutex::new(None),
            retries,
            timeout,
        })
    }

    fn secret(&self, key: &str) -> &str {
        self.secrets.get(key).map(Secret::expose).unwrap_or("")
    }

    /// Adds credentials to a request; fetches an OAuth2 token first when needed.
    pub async fn apply(
        &self,
        client: &reqwest::Client,
        rb: reqwest::RequestBuilder,
        system: &str,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        Ok(match &self.def {
            AuthDef::None => rb,
            AuthDef::Bearer => rb.bearer_auth(self.secret("token")),
            AuthDef::Basic => rb.basic_auth(self.secret("username"), Some(self.secret("password"))),
            AuthDef::ApiKey {
                header,
                query,
                prefix,
            } => {
                let value = format!(
                    "{}{}",
                    prefix.as_deref().unwrap_or(""),
                    self.secret("api_key")
                );
                match (header, query) {
                    (Some(h), _) => rb.header(h.as_str(), value),
                    (None, Some(q)) => rb.query(&[(q.as_str(), value)]),
                    (None, None) => rb,
                }
            }
            AuthDef::Oauth2ClientCredentials { .. } => {
                let token = self.token(client, system).await?;
                rb.bearer_auth(token.expose())
            }
        })
    }

    /// Forgets a cached token (after the API rejected it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn token(&self, client: &reqwest::Client, system: &str) -> Result<Secret, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let AuthDef::Oauth2ClientCredentials { scope, .. } = &self.def else {
            return Err(HttpError::Config("not an OAuth2 connector".into()));
        };
        let url = self.token_url.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.secret("client_id")),
            ("client_secret", self.secret("client_secret")),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        if let Some(a) = &self.audience {
            form.push(("audience", a));
        }
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let resp = client
                .post(&url)
                .timeout(self.timeout)
                .form(&form)
                .send()
                .await
                .map_err(|e| HttpError::network("POST token_url", &e))?;
            let status = resp.status().as_u16();
            if (status == 429 || status >= 500) && attempt <= self.retries {
                let wait = super::ratelimit::retry_after(resp.headers(), jiff::Timestamp::now())
                    .filter(|w| *w <= super::ratelimit::MAX_RETRY_AFTER)
                    .unwrap_or_else(|| crate::run::retry::backoff(attempt));
                tokio::time::sleep(wait).await;
                continue;
            }
            break resp;
        };
        let status = resp.status().as_u16();
        if status == 401 || status == 403 || status == 400 {
            return Err(HttpError::Auth {
                system: system.to_string(),
                status,
            });
        }
        if !resp.status().is_success() {
            return Err(HttpError::Status {
                call: "POST token_url".into(),
                status,
                transient: status >= 500 || status == 429,
            });
        }
        let body: serde_json::Value = resp.json().await.map_err(|_| HttpError::Status {
            call: "POST token_url".into(),
            status,
            transient: false,
        })?;
        let token = body
            .get("access_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| HttpError::Config("the token answer has no access_token".into()))?;
        let lifetime = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(300));
        let token = Secret::from(token.to_string());
        *cached = Some((
            token.clone(),
            Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        ));
        Ok(token)
    }
}
