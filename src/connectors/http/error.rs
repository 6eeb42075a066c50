//! The HTTP connector's errors. Messages name the call by its method and path *template*
//! (`GET /v1/customers/{id}`), never the filled-in URL, so no personal data or secret can
//! reach a report or a log through an error.

use crate::connectors::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{system} rejected the credentials (HTTP {status}); check the system's `auth:` values")]
    Auth { system: String, status: u16 },
    #[error("{call} answered HTTP {status}")]
    Status {
        call: String,
        status: u16,
        transient: bool,
    },
    #[error("{call}: {message}")]
    Network {
        call: String,
        message: String,
        transient: bool,
    },
    #[error("{call}: {message}")]
    Answer { call: String, message: String },
    #[error("{0}")]
    Config(String),
    #[error(
        "{call}: more than {max} pages; raise `max_pages` in the definition if this is expected"
    )]
    TooManyPages { call: String, max: u32 },
    #[error("{call}: the job did not finish within {seconds}s")]
    JobTimeout { call: String, seconds: u64 },
    /// A transient failure that the call's own retries did not get past. It is no longer
    /// transient: the step is not retried on top, which would multiply the calls.
    #[error("{last}{}", if *calls > 1 { format!(" (after {calls} calls)") } else { String::new() })]
    Exhausted { last: Box<HttpError>, calls: u32 },
}

impl HttpError {
    pub fn network(call: &str, e: &reqwest::Error) -> Self {
        // A refused certificate is a set-up problem that no retry mends; rustls's own words
        // for it name no host or path.
        if let Some(tls) = tls_error(e) {
            return Self::Network {
                call: call.to_string(),
                message: format!("TLS failed: {tls}"),
                transient: false,
            };
        }
        let message = if e.is_timeout() {
            "no answer in time".to_string()
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else if e.is_body() || e.is_decode() {
            "the answer could not be read".to_string()
        } else {
            "the request failed".to_string()
        };
        Self::Network {
            call: call.to_string(),
            message,
            transient: e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
        }
    }

    /// The error a call gives up with after `calls` tries: a transient one becomes
    /// [`HttpError::Exhausted`]; any other is returned as it is.
    pub fn after(self, calls: u32) -> Self {
        if self.is_transient() {
            Self::Exhausted {
                last: Box::new(self),
                calls,
            }
        } else {
            self
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { transient, .. } | Self::Network { transient, .. } => *transient,
            _ => false,
        }
    }
}

/// The TLS error under a request's error, if that is what failed. rustls's error reaches
/// reqwest wrapped in `io::Error`s, whose `source()` skips the wrapped error itself, so the
/// walk steps into each `io::Error`'s wrapped error instead.
fn tls_error(e: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        cause = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

impl From<HttpError> for ConnectorError {
    fn from(e: HttpError) -> Self {
        let transient = e.is_transient();
        match e {
            HttpError::Config(m) => ConnectorError::Config(m),
            HttpError::Network { .. } => ConnectorError::Connect {
                message: e.to_string(),
                transient,
            },
            HttpError::Exhausted { ref last, .. }
                if matches!(**last, HttpError::Network { .. }) =>
            {
                ConnectorError::Connect {
                    message: e.to_string(),
                    transient,
                }
            }
            other => ConnectorError::Query {
                message: other.to_string(),
                transient,
            },
        }
    }
}
