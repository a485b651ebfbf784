//! gRPC `jaeger.api_v2.SamplingManager/GetSamplingStrategy` (collector :14250, jaeger-wire.md
//! §c) over a [`StrategySource`]. A failing source is `INTERNAL`; an unknown service gets the
//! default strategy (the source decides).

use std::sync::Arc;

use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::api::error::ApiError;
use crate::proto::api_v2::sampling_manager_server::{SamplingManager, SamplingManagerServer};
use crate::proto::api_v2::{SamplingStrategyParameters, SamplingStrategyResponse};
use crate::sampling::StrategySource;

pub struct SamplingGrpc {
    source: Arc<dyn StrategySource>,
}

impl SamplingGrpc {
    pub fn server(source: Arc<dyn StrategySource>) -> SamplingManagerServer<SamplingGrpc> {
        SamplingManagerServer::new(SamplingGrpc { source })
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
    }
}

#[tonic::async_trait]
impl SamplingManager for SamplingGrpc {
    async fn get_sampling_strategy(
        &self,
        request: Request<SamplingStrategyParameters>,
    ) -> Result<Response<SamplingStrategyResponse>, Status> {
        let service = request.into_inner().service_name;
        match self.source.strategy(service).await {
            Ok(r) => Ok(Response::new(r)),
            Err(e) => {
                tracing::warn!(error = %e, "sampling strategy lookup failed");
                Err(ApiError::Internal(e.to_string()).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use futures_util::future::{self, BoxFuture, FutureExt};
    use tokio_stream::wrappers::TcpListenerStream;

    use super::*;
    use crate::proto::api_v2::sampling_manager_client::SamplingManagerClient;
    use crate::proto::api_v2::SamplingStrategyType;
    use crate::sampling::file::tests::DOCUMENTED_EXAMPLE;
    use crate::sampling::{
        RemoteStrategies, SamplingError, SamplingOptions, SamplingProvider, Strategies,
    };

    /// A provider serving Jaeger's documented example (written to a temp file).
    async fn documented_provider() -> SamplingProvider {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("strategies.json");
        std::fs::write(&file, DOCUMENTED_EXAMPLE).expect("write");
        SamplingProvider::load(SamplingOptions {
            strategies_file: Some(file.to_str().expect("utf-8").into()),
            ..SamplingOptions::default()
        })
        .await
        .expect("loads")
    }

    /// Serves `source` on 127.0.0.1:0 until the test's runtime ends.
    async fn serve(source: Arc<dyn StrategySource>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(SamplingGrpc::server(source))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        addr
    }

    struct FailingSource;

    impl StrategySource for FailingSource {
        fn strategy(
            &self,
            _service: String,
        ) -> BoxFuture<'static, Result<SamplingStrategyResponse, SamplingError>> {
            future::ready(Err(SamplingError::Timeout {
                endpoint: "upstream:14250".into(),
                timeout: Duration::from_secs(5),
            }))
            .boxed()
        }
    }

    fn expected(service: &str) -> SamplingStrategyResponse {
        Strategies::parse(DOCUMENTED_EXAMPLE.as_bytes(), 0.001)
            .expect("valid")
            .for_service(service)
            .clone()
    }

    #[tokio::test]
    async fn serves_the_provider_strategies_to_a_tonic_client() {
        let addr = serve(Arc::new(documented_provider().await)).await;
        let mut client = SamplingManagerClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        for service in ["foo", "bar", "unknown"] {
            let r = client
                .get_sampling_strategy(SamplingStrategyParameters {
                    service_name: service.into(),
                })
                .await
                .expect("strategy")
                .into_inner();
            assert_eq!(r, expected(service), "{service}");
        }
    }

    #[tokio::test]
    async fn a_failing_source_is_internal() {
        let addr = serve(Arc::new(FailingSource)).await;
        let mut client = SamplingManagerClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let status = client
            .get_sampling_strategy(SamplingStrategyParameters {
                service_name: "svc".into(),
            })
            .await
            .expect_err("source fails");
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(
            status.message(),
            "GetSamplingStrategy on upstream:14250 timed out after 5s"
        );
    }

    #[tokio::test]
    async fn remote_strategies_ask_the_collector_and_skip_an_unreachable_one() {
        let addr = serve(Arc::new(documented_provider().await)).await;
        let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let remote: Arc<dyn StrategySource> = Arc::new(
            RemoteStrategies::new(&format!("127.0.0.1:{dead_port},{addr}")).expect("valid"),
        );
        // Round-robin starts at the dead collector every other call; each call still succeeds.
        for service in ["foo", "bar", "unknown", "foo"] {
            let r = remote.strategy(service.into()).await.expect("strategy");
            assert_eq!(r, expected(service), "{service}");
        }
        let bar = remote.strategy("bar".into()).await.expect("strategy");
        assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting as i32);
    }

    #[tokio::test]
    async fn remote_errors_carry_the_collector_status() {
        let addr = serve(Arc::new(FailingSource)).await;
        let remote = RemoteStrategies::new(&addr.to_string()).expect("valid");
        let err = StrategySource::strategy(&remote, "svc".into())
            .await
            .expect_err("collector fails");
        assert!(
            matches!(
                &err,
                SamplingError::Remote { code: tonic::Code::Internal, message, .. }
                    if message.contains("timed out")
            ),
            "{err}"
        );
    }
}
