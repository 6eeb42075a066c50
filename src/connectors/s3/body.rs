//! An object's content as a synchronous reader over the asynchronous download, so that it can
//! be streamed into the export bundle chunk by chunk: memory holds one network chunk at a
//! time, whatever the object's size. The download starts on the first read, so a sink that
//! keeps no files costs no download.

use super::super::ConnectorError;
use super::client::classify;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::time::Duration;

/// What the download's answer said about the object.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

enum State {
    NotStarted,
    Streaming(ByteStream),
    Done,
}

/// One object's content, downloaded as it is read. Must be read inside
/// [`tokio::task::block_in_place`] (see [`blocking`]).
pub struct ObjectReader<'a> {
    pub handle: tokio::runtime::Handle,
    pub client: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The version to read (versioned buckets), else the current object...
    pub version_id: Option<&'a str>,
    /// ... provided it is still the one listed (its ETag), so the copy matches the record.
    pub if_match: Option<&'a str>,
    pub idle: Duration,
    pub values: &'a [&'a Value],
    state: State,
    chunk: Bytes,
    /// Set once the download started.
    pub headers: Option<Headers>,
    /// Why the last read failed, when the store (not the sink) was the cause.
    pub error: Option<ConnectorError>,
}

impl<'a> ObjectReader<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: &'a aws_sdk_s3::Client,
        bucket: &'a str,
        key: &'a str,
        version_id: Option<&'a str>,
        if_match: Option<&'a str>,
        idle: Duration,
        values: &'a [&'a Value],
        handle: tokio::runtime::Handle,
    ) -> Self {
        Self {
            handle,
            client,
            bucket,
            key,
            version_id,
            if_match,
            idle,
            values,
            state: State::NotStarted,
            chunk: Bytes::new(),
            headers: None,
            error: None,
        }
    }

    fn fail(&mut self, e: ConnectorError) -> io::Error {
        let text = e.to_string();
        self.error = Some(e);
        self.state = State::Done;
        io::Error::other(text)
    }

    fn start(&mut self) -> io::Result<()> {
        let call = self
            .client
            .get_object()
            .bucket(self.bucket)
            .key(self.key)
            .set_version_id(self.version_id.map(String::from))
            .set_if_match(self.if_match.map(String::from))
            .send();
        let answer = self.handle.block_on(tokio::time::timeout(self.idle, call));
        let out = match answer {
            Err(_) => return Err(self.fail(ConnectorError::Timeout(self.idle))),
            Ok(Err(e)) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                // Deleted since it was listed: listing again (a retry) gives the truth.
                return Err(self.fail(ConnectorError::Query {
                    message: "an object was deleted while it was being read".into(),
                    transient: true,
                }));
            }
            Ok(Err(e)) => {
                let e = classify("read an object", e, self.values.iter().copied());
                return Err(self.fail(e));
            }
            Ok(Ok(out)) => out,
        };
        self.headers = Some(Headers {
            content_type: out.content_type.clone(),
            metadata: out
                .metadata
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        });
        self.state = State::Streaming(out.body);
        Ok(())
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if matches!(self.state, State::NotStarted) {
            self.start()?;
        }
        while self.chunk.is_empty() {
            let State::Streaming(body) = &mut self.state else {
                return Ok(0);
            };
            let next = self
                .handle
                .block_on(tokio::time::timeout(self.idle, body.try_next()));
            match next {
                Err(_) => return Err(self.fail(ConnectorError::Timeout(self.idle))),
                Ok(Err(e)) => {
                    return Err(self.fail(ConnectorError::Query {
                        message: format!("cannot read an object: the download broke off ({e})"),
                        transient: true,
                    }));
                }
                Ok(Ok(None)) => {
                    self.state = State::Done;
                    return Ok(0);
                }
                Ok(Ok(Some(bytes))) => self.chunk = bytes,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Runs `f`, which blocks on downloads, on a worker thread the runtime can spare. Needs the
/// multi-threaded runtime (what `dsr` runs on).
pub fn blocking<T>(
    f: impl FnOnce(tokio::runtime::Handle) -> Result<T, ConnectorError>,
) -> Result<T, ConnectorError> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| f(h))
        }
        _ => Err(ConnectorError::Unsupported(
            "copying objects outside a multi-threaded runtime",
        )),
    }
}

/// An object key as a file name inside the bundle: `/`-separated segments, none of them empty,
/// `.` or `..`. Keys may hold any of these (`a//b`, `folder/`), so `%` and `\` are
/// percent-encoded and an empty segment becomes `%`, `.` `%2E` and `..` `%2E%2E`: different
/// keys never share a name.
pub fn file_name(key: &str) -> String {
    key.split('/')
        .map(|seg| match seg {
            "" => "%".to_string(),
            "." => "%2E".to_string(),
            ".." => "%2E%2E".to_string(),
            s => s
                .replace('%', "%25")
                .replace('\\', "%5C")
                .replace('\0', "%00"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_becomes_a_distinct_safe_file_name() {
        assert_eq!(file_name("uploads/42/cv.pdf"), "uploads/42/cv.pdf");
        assert_eq!(file_name("uploads/42/"), "uploads/42/%");
        assert_eq!(file_name("/a//../b"), "%/a/%/%2E%2E/b");
        assert_eq!(file_name("100%\\x"), "100%25%5Cx");
        assert_ne!(file_name("a/%"), file_name("a/"));
    }
}
