//! Generates the Jaeger protobuf/gRPC types from our own `.proto` files under `proto/` with a
//! vendored `protoc`, so neither a fresh machine nor CI needs a protobuf package.
//!
//! OTLP messages are not generated: `extern_path` maps them to the opentelemetry-proto crate's
//! types, so an OTLP `TracesData` from the storage or query APIs is the same Rust type the OTLP
//! ingest path uses. The OTLP `.proto` files are still compiled into the file descriptor set
//! that server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/jaeger/api_v2/model.proto",
        "proto/jaeger/api_v2/collector.proto",
        "proto/jaeger/api_v2/sampling.proto",
        "proto/jaeger/api_v2/query.proto",
        "proto/jaeger/api_v3/query_service.proto",
        "proto/jaeger/storage/v1/storage.proto",
        "proto/jaeger/storage/v2/trace_storage.proto",
        "proto/jaeger/storage/v2/dependency_storage.proto",
        "proto/jaeger/storage/v2/capabilities.proto",
        "proto/opentelemetry/proto/collector/trace/v1/trace_service.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    // SAFETY: the build script is single-threaded; nothing else reads the environment here.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let otlp = "::opentelemetry_proto::tonic";
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .extern_path(
            ".opentelemetry.proto.common.v1",
            format!("{otlp}::common::v1"),
        )
        .extern_path(
            ".opentelemetry.proto.resource.v1",
            format!("{otlp}::resource::v1"),
        )
        .extern_path(
            ".opentelemetry.proto.trace.v1",
            format!("{otlp}::trace::v1"),
        )
        .extern_path(
            ".opentelemetry.proto.collector.trace.v1",
            format!("{otlp}::collector::trace::v1"),
        )
        .file_descriptor_set_path(out_dir.join("tracehound_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
