//! Generated protobuf and gRPC types of the Jaeger APIs (from `proto/`, by `build.rs`).
//! Only wire types live here; conversions are in `ingest`, `api` and `storage::grpc`.
//! OTLP messages inside them are the opentelemetry-proto crate's types.

/// `jaeger.api_v2`: the span model, CollectorService, SamplingManager and QueryService.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v2 {
    tonic::include_proto!("jaeger.api_v2");
}

/// `jaeger.api_v3`: the OTLP-based QueryService.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v3 {
    tonic::include_proto!("jaeger.api_v3");
}

/// `jaeger.storage.v1` and `jaeger.storage.v2`: the remote-storage APIs.
pub mod storage {
    /// The v1 plugin services (span writer, reader, archive, dependencies, capabilities).
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("jaeger.storage.v1");
    }

    /// The v2 TraceReader, DependencyReader and Capabilities services.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v2 {
        tonic::include_proto!("jaeger.storage.v2");
    }
}

/// Every compiled `.proto` file (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("tracehound_descriptor");
