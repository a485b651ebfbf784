//! Zipkin HTTP collector API (`:9411`): `POST /api/v1/spans` (v1 JSON, or `application/x-thrift`
//! TBinaryProtocol `list<Span>`) and `POST /api/v2/spans` (v2 JSON, or `application/x-protobuf`
//! `zipkin.proto3.ListOfSpans`); gzip/zstd/deflate accepted.
//!
//! Answers like Zipkin: **202 Accepted** with an empty body once the spans are durable. Zipkin
//! has no partial success, so a request with rejected spans stores its valid spans and then
//! answers 400 listing the rejected ones. Undecodable body → 400, unsupported content type → 415
//! (no content type at all means JSON, as Zipkin's reporters assume), body over
//! `max-request-body-size` → 413, saturated ingest → 503 with Retry-After. Error bodies are plain
//! text.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::error::ApiError;
use crate::api::http::body::{mime_type, read_body, unsupported_content_type};
use crate::api::ingest::IngestEdge;
use crate::ingest::zipkin::{decode, Encoding};
use crate::telemetry::Protocol;

pub struct ZipkinHttpState {
    pub ingest: IngestEdge,
    pub max_body_bytes: usize,
}

#[derive(Clone, Copy)]
enum ApiVersion {
    V1,
    V2,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/spans", web::post().to(post_v1))
        .route("/api/v2/spans", web::post().to(post_v2));
}

fn encoding(req: &HttpRequest, version: ApiVersion) -> Result<Encoding, ApiError> {
    match (version, mime_type(req).as_str()) {
        (ApiVersion::V1, "" | "application/json") => Ok(Encoding::V1Json),
        (ApiVersion::V1, "application/x-thrift" | "application/vnd.apache.thrift.binary") => {
            Ok(Encoding::V1Thrift)
        }
        (ApiVersion::V1, _) => Err(unsupported_content_type(
            req,
            "application/json or application/x-thrift",
        )),
        (ApiVersion::V2, "" | "application/json") => Ok(Encoding::V2Json),
        (ApiVersion::V2, "application/x-protobuf" | "application/protobuf") => {
            Ok(Encoding::V2Proto)
        }
        (ApiVersion::V2, _) => Err(unsupported_content_type(
            req,
            "application/json or application/x-protobuf",
        )),
    }
}

fn protocol(encoding: Encoding) -> Protocol {
    match encoding {
        Encoding::V1Json => Protocol::zipkin_v1_json,
        Encoding::V1Thrift => Protocol::zipkin_v1_thrift,
        Encoding::V2Json => Protocol::zipkin_v2_json,
        Encoding::V2Proto => Protocol::zipkin_v2_proto,
    }
}

async fn post_v1(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ZipkinHttpState>,
) -> HttpResponse {
    respond(handle(&req, payload, &state, ApiVersion::V1).await)
}

async fn post_v2(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ZipkinHttpState>,
) -> HttpResponse {
    respond(handle(&req, payload, &state, ApiVersion::V2).await)
}

fn respond(result: Result<(), ApiError>) -> HttpResponse {
    match result {
        Ok(()) => HttpResponse::build(StatusCode::ACCEPTED).finish(),
        Err(e) => e.plain_text_response(),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ZipkinHttpState,
    version: ApiVersion,
) -> Result<(), ApiError> {
    let encoding = encoding(req, version)?;
    let protocol = protocol(encoding);
    let body = read_body(req, payload, state.max_body_bytes).await?;
    state.ingest.record_bytes(protocol, body.len());
    let decoded = decode(encoding, &body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .ingest
        .submit_or_report_rejects(decoded, protocol)
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use actix::prelude::*;
    use actix_web::{test, App};

    use super::*;
    use crate::actors::ingest::{IngestRefusal, IngestSpans};
    use crate::telemetry::Metrics;

    /// Stands in for the IngestActor: stores nothing, counts spans, or refuses as saturated.
    struct FakeIngest {
        saturated: bool,
        spans: Arc<AtomicUsize>,
    }

    impl Actor for FakeIngest {
        type Context = Context<Self>;
    }

    impl Handler<IngestSpans> for FakeIngest {
        type Result = Result<(), IngestRefusal>;

        fn handle(&mut self, msg: IngestSpans, _: &mut Context<Self>) -> Self::Result {
            if self.saturated {
                return Err(IngestRefusal::Saturated {
                    queued: 10,
                    capacity: 10,
                });
            }
            self.spans.fetch_add(msg.batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    async fn post(saturated: bool, body: &str) -> (StatusCode, bool, usize, String) {
        let spans = Arc::new(AtomicUsize::new(0));
        let ingest = FakeIngest {
            saturated,
            spans: spans.clone(),
        }
        .start();
        let state = web::Data::new(ZipkinHttpState {
            ingest: IngestEdge {
                ingest: ingest.recipient(),
                metrics: Arc::new(Metrics::new()),
            },
            max_body_bytes: 1 << 20,
        });
        let app = test::init_service(App::new().app_data(state).configure(configure)).await;
        let req = test::TestRequest::post()
            .uri("/api/v2/spans")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string())
            .to_request();
        let resp = test::call_service(&app, req).await;
        let status = resp.status();
        let retry_after = resp.headers().contains_key("retry-after");
        let text = String::from_utf8_lossy(&test::read_body(resp).await).into_owned();
        (status, retry_after, spans.load(Ordering::SeqCst), text)
    }

    const ONE_SPAN: &str = r#"[{"traceId": "00000000000000aa", "id": "0000000000000001"}]"#;

    #[actix_web::test]
    async fn accepted_spans_get_202_with_an_empty_body() {
        let (status, _, stored, text) = post(false, ONE_SPAN).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(stored, 1);
        assert!(text.is_empty(), "{text}");
    }

    #[actix_web::test]
    async fn saturated_ingest_answers_503_with_retry_after() {
        let (status, retry_after, stored, text) = post(true, ONE_SPAN).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry_after);
        assert_eq!(stored, 0);
        assert!(text.contains("retry later"), "{text}");
    }

    #[actix_web::test]
    async fn rejected_spans_get_400_after_the_valid_ones_are_stored() {
        let body = r#"[{"traceId": "00000000000000aa", "id": "0000000000000001"},
                       {"traceId": "00000000000000aa", "id": "xyz"}]"#;
        let (status, _, stored, text) = post(false, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(stored, 1);
        assert!(text.contains("rejected 1 of 2 spans"), "{text}");
        assert!(text.contains("spans[1]: id must be"), "{text}");
    }
}
