//! One remote call: timing and metrics per attempt, retries with backoff for transient
//! failures, and the mapping of gRPC statuses to [`StorageError`].
//!
//! Transient (retried until the budget is spent, then `StorageError::Unavailable`, which the
//! ingest edge turns into a retryable refusal): UNAVAILABLE, RESOURCE_EXHAUSTED,
//! DEADLINE_EXCEEDED, ABORTED, CANCELLED, and transport failures. INVALID_ARGUMENT and the rest
//! are final (`StorageError::Remote`). UNIMPLEMENTED is reported separately: it is how the store
//! finds out that a server only speaks remote storage v1.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::storage::StorageError;
use crate::telemetry::{Metrics, RemoteOutcome};

/// First pause after a transient failure; doubles up to [`MAX_BACKOFF`], with jitter.
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Largest response message accepted from the server (servers split traces below their limit).
pub(super) const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a call failed, as the store needs to know it.
#[derive(Debug)]
pub(super) enum CallError {
    /// The server does not implement the method (a v1-only server answering a v2 call).
    Unimplemented(Status),
    Failed(StorageError),
}

impl From<StorageError> for CallError {
    fn from(e: StorageError) -> Self {
        CallError::Failed(e)
    }
}

impl CallError {
    /// The error for the caller, `method` naming the call.
    pub(super) fn into_storage(self, method: &str) -> StorageError {
        match self {
            CallError::Unimplemented(s) => StorageError::Remote(format!(
                "{method}: the server does not implement it: {}",
                s.message()
            )),
            CallError::Failed(e) => e,
        }
    }
}

/// Where a call goes and how it is labelled in the metrics.
#[derive(Clone, Copy)]
pub(super) struct Method {
    pub api: &'static str,
    pub name: &'static str,
}

pub(super) fn is_transient(s: &Status) -> bool {
    match s.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled => true,
        // A status built from a local transport error (the connection broke mid-call) carries
        // its cause; one sent by the server does not.
        Code::Unknown => std::error::Error::source(s).is_some(),
        _ => false,
    }
}

fn outcome(s: &Status) -> RemoteOutcome {
    match s.code() {
        _ if is_transient(s) => RemoteOutcome::unavailable,
        Code::NotFound => RemoteOutcome::not_found,
        Code::Unimplemented => RemoteOutcome::unimplemented,
        Code::InvalidArgument => RemoteOutcome::rejected,
        _ => RemoteOutcome::error,
    }
}

/// The status message and, for local transport failures, their causes
/// (`tcp connect error: Connection refused (os error 111)`).
fn describe(s: &Status) -> String {
    let mut text = s.message().to_string();
    let mut cause = std::error::Error::source(s);
    while let Some(e) = cause {
        let e_text = e.to_string();
        if !text.contains(&e_text) {
            text.push_str(": ");
            text.push_str(&e_text);
        }
        cause = e.source();
    }
    text
}

/// The final error of a call that failed with `s`.
pub(super) fn call_error(method: Method, s: Status) -> CallError {
    let name = method.name;
    match s.code() {
        Code::Unimplemented => CallError::Unimplemented(s),
        _ if is_transient(&s) => CallError::Failed(StorageError::Unavailable(format!(
            "{name}: {}",
            describe(&s)
        ))),
        Code::InvalidArgument => CallError::Failed(StorageError::Remote(format!(
            "{name} rejected as invalid: {}",
            s.message()
        ))),
        code => CallError::Failed(StorageError::Remote(format!(
            "{name}: {code:?}: {}",
            describe(&s)
        ))),
    }
}

/// Per-attempt deadline of reads (a large search may take a while on the server).
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A read: retried like a write until `retry_until`, each attempt with [`READ_TIMEOUT`];
/// NOT_FOUND means there is nothing, an empty answer.
pub(super) async fn read<T, F, Fut>(
    metrics: &Metrics,
    method: Method,
    retry_until: Instant,
    attempt: F,
) -> Result<T, CallError>
where
    T: Default,
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    match with_retry(metrics, method, retry_until, Some(READ_TIMEOUT), attempt).await {
        Ok(v) => Ok(v),
        Err(s) if s.code() == Code::NotFound => Ok(T::default()),
        Err(s) => Err(call_error(method, s)),
    }
}

/// The message of a unary answer.
pub(super) fn inner<T>(r: Result<tonic::Response<T>, Status>) -> Result<T, Status> {
    r.map(tonic::Response::into_inner)
}

/// Runs `attempt` until it succeeds, fails for good, or `retry_until` would be passed; each
/// attempt gets `attempt_timeout` (or the remaining budget when `None`) and is timed and
/// counted. Transient failures are retried with exponential backoff and jitter.
pub(super) async fn with_retry<T, F, Fut>(
    metrics: &Metrics,
    method: Method,
    retry_until: Instant,
    attempt_timeout: Option<Duration>,
    mut attempt: F,
) -> Result<T, Status>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let timeout = attempt_timeout.unwrap_or_else(|| {
            retry_until
                .saturating_duration_since(Instant::now())
                .max(INITIAL_BACKOFF)
        });
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, attempt(timeout)).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer within {timeout:?}"
            ))),
        };
        let seconds = started.elapsed().as_secs_f64();
        let status = match result {
            Ok(v) => {
                metrics.remote_call(method.api, method.name, RemoteOutcome::ok, seconds);
                return Ok(v);
            }
            Err(s) => s,
        };
        metrics.remote_call(method.api, method.name, outcome(&status), seconds);
        let pause = jitter(backoff);
        if !is_transient(&status) || Instant::now() + pause >= retry_until {
            return Err(status);
        }
        tracing::debug!(
            method = method.name,
            error = %describe(&status),
            "remote storage call failed, retrying"
        );
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Between half and all of `d`, so that many writers do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// A protobuf message encoded once and sent as is: a retried write resends the same bytes
/// without encoding (or cloning) the batch again.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Encoded(pub Bytes);

impl Encoded {
    pub(super) fn of(m: &impl Message) -> Self {
        Encoded(Bytes::from(m.encode_to_vec()))
    }
}

impl Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        // A message's encoding is the concatenation of its fields: exactly these bytes.
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Never decoded: only requests are pre-encoded.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

/// A ready gRPC client on `channel` that accepts large, compressed responses.
pub(super) async fn ready_client(
    channel: &Channel,
) -> Result<tonic::client::Grpc<Channel>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(MAX_RESPONSE_BYTES)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
    Ok(grpc)
}

/// A unary call of a pre-encoded request.
pub(super) async fn unary_encoded<Resp>(
    channel: &Channel,
    path: &'static str,
    body: Encoded,
    timeout: Duration,
) -> Result<Resp, Status>
where
    Resp: Message + Default + Send + 'static,
{
    let mut grpc = ready_client(channel).await?;
    let mut request = tonic::Request::new(body);
    request.set_timeout(timeout);
    let codec = tonic_prost::ProstCodec::<Encoded, Resp>::default();
    grpc.unary(request, http::uri::PathAndQuery::from_static(path), codec)
        .await
        .map(tonic::Response::into_inner)
}

/// A client-streaming call of pre-encoded requests.
pub(super) async fn client_stream_encoded<Resp>(
    channel: &Channel,
    path: &'static str,
    bodies: Vec<Encoded>,
    timeout: Duration,
) -> Result<Resp, Status>
where
    Resp: Message + Default + Send + 'static,
{
    let mut grpc = ready_client(channel).await?;
    let mut request = tonic::Request::new(futures_util::stream::iter(bodies));
    request.set_timeout(timeout);
    let codec = tonic_prost::ProstCodec::<Encoded, Resp>::default();
    grpc.client_streaming(request, http::uri::PathAndQuery::from_static(path), codec)
        .await
        .map(tonic::Response::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_encoded_bytes_are_the_message_encoding() {
        let m = crate::proto::storage::v2::GetServicesResponse {
            services: vec!["a".into(), "b".into()],
        };
        let e = Encoded::of(&m);
        assert_eq!(e.encode_to_vec(), m.encode_to_vec());
        assert_eq!(e.encoded_len(), m.encoded_len());
    }

    #[test]
    fn transient_statuses_are_retried_and_invalid_ones_are_not() {
        let m = Method {
            api: "v2",
            name: "Export",
        };
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
        ] {
            assert!(is_transient(&Status::new(code, "x")), "{code:?}");
            let e = call_error(m, Status::new(code, "x")).into_storage("Export");
            assert!(e.is_retryable(), "{code:?}: {e}");
        }
        for code in [Code::InvalidArgument, Code::Internal, Code::Unknown] {
            assert!(!is_transient(&Status::new(code, "x")), "{code:?}");
            let e = call_error(m, Status::new(code, "x")).into_storage("Export");
            assert!(matches!(e, StorageError::Remote(_)), "{code:?}: {e}");
        }
        assert!(matches!(
            call_error(m, Status::unimplemented("x")),
            CallError::Unimplemented(_)
        ));
    }
}
