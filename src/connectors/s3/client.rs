//! The S3 client: built once per system from the standard AWS configuration chain, over the
//! same rustls and ring crypto as dsr's other TLS clients; and S3 errors as connector errors.

use super::super::ConnectorError;
use super::super::sql::scrub;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde_json::Value;

/// Where and how to reach the bucket, from the playbook.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: bool,
}

/// A client for `settings`. Credentials come from the AWS chain: the environment
/// (`AWS_ACCESS_KEY_ID`, ...), the shared profile files (`AWS_PROFILE`), web identity tokens,
/// the container and instance metadata endpoints. The SDK's own retries are off: the
/// executor retries transient failures as many times as the system's `retries` says.
pub async fn build(settings: &Settings) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(r) = &settings.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(e) = &settings.endpoint {
        loader = loader.endpoint_url(e);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(settings.path_style);
    if shared.region().is_none() {
        conf = conf.region(aws_config::Region::from_static("us-east-1"));
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

const NO_CREDENTIALS: &str = "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, in dsr's environment";

/// Error codes worth retrying: the store is busy or briefly unavailable.
const TRANSIENT_CODES: [&str; 7] = [
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "PreconditionFailed",
];

/// One S3 error code (from a call, or one entry of a DeleteObjects answer) as a connector
/// error. `what` says what was attempted ("list objects in bucket b"); messages never hold
/// credentials, and the searched-for values are scrubbed from them.
pub fn from_code<'v>(
    what: &str,
    code: &str,
    status: Option<u16>,
    detail: &str,
    values: impl IntoIterator<Item = &'v Value>,
) -> ConnectorError {
    let values: Vec<&Value> = values.into_iter().collect();
    let permanent = |message: String| ConnectorError::Query {
        message: scrub(&message, values.iter().copied()),
        transient: false,
    };
    match code {
        "AccessDenied" | "AllAccessDisabled" => permanent(format!(
            "cannot {what}: access denied; the credentials need s3:ListBucket, s3:ListBucketVersions, s3:GetBucketVersioning, s3:GetObject, s3:GetObjectVersion, s3:DeleteObject and s3:DeleteObjectVersion"
        )),
        "NoSuchBucket" => permanent(format!("cannot {what}: the bucket does not exist")),
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken" => {
            ConnectorError::Connect {
                message: format!(
                    "the store rejected the credentials ({code}); check the AWS environment or profile"
                ),
                transient: false,
            }
        }
        _ if TRANSIENT_CODES.contains(&code) || status.is_some_and(|s| s >= 500 || s == 429) => {
            ConnectorError::Query {
                message: scrub(
                    &format!("cannot {what}: {code} (the store is busy)"),
                    values.iter().copied(),
                ),
                transient: true,
            }
        }
        _ if code.is_empty() => permanent(format!(
            "cannot {what}: HTTP status {}",
            status.map_or("unknown".to_string(), |s| s.to_string())
        )),
        _ if detail.is_empty() => permanent(format!("cannot {what}: {code}")),
        _ => permanent(format!("cannot {what}: {code}: {detail}")),
    }
}

/// An SDK error as a connector error: network trouble, timeouts and 5xx/throttling answers
/// are transient; access, bucket and credential problems are not.
pub fn classify<'v, E>(
    what: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    values: impl IntoIterator<Item = &'v Value>,
) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = |e: &dyn std::error::Error| {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    };
    match &e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let err = s.err();
            from_code(
                what,
                err.code().unwrap_or_default(),
                Some(status),
                err.message().unwrap_or_default(),
                values,
            )
        }
        SdkError::TimeoutError(_) => ConnectorError::Query {
            message: format!("cannot {what}: the store did not answer in time"),
            transient: true,
        },
        SdkError::DispatchFailure(d) => {
            let text = context(&e);
            if text.contains("credentials") {
                ConnectorError::Connect {
                    message: NO_CREDENTIALS.into(),
                    transient: false,
                }
            } else {
                ConnectorError::Connect {
                    message: scrub(&format!("{text} (trying to {what})"), values),
                    transient: d.is_io() || d.is_timeout() || !d.is_user(),
                }
            }
        }
        SdkError::ResponseError(_) => ConnectorError::Query {
            message: scrub(
                &format!("cannot {what}: unreadable answer ({})", context(&e)),
                values,
            ),
            transient: true,
        },
        _ => {
            let text = context(&e);
            let message = if text.contains("credentials") {
                NO_CREDENTIALS.into()
            } else {
                scrub(&format!("{text} (trying to {what})"), values)
            };
            ConnectorError::Connect {
                message,
                transient: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_stores_are_retried_and_access_problems_are_not() {
        let none = std::iter::empty();
        assert!(from_code("list", "SlowDown", Some(503), "", none.clone()).is_transient());
        assert!(from_code("list", "", Some(500), "", none.clone()).is_transient());
        let denied = from_code("list", "AccessDenied", Some(403), "", none.clone());
        assert!(!denied.is_transient());
        assert!(denied.to_string().contains("s3:ListBucketVersions"));
        let gone = from_code("list objects in b", "NoSuchBucket", Some(404), "", none);
        assert_eq!(
            gone.to_string(),
            "cannot list objects in b: the bucket does not exist"
        );
        let v = Value::String("alice@example.com".into());
        let scrubbed = from_code("get", "Odd", Some(400), "key alice@example.com", [&v]);
        assert!(!scrubbed.to_string().contains("alice"), "{scrubbed}");
    }
}
