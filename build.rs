//! Generates the Jaeger protobuf/gRPC types from our own `.proto` files under `proto/` with a
//! vendored `protoc`, so neither a fresh machine nor CI needs a protobuf package.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/jaeger/api_v2/model.proto",
        "proto/jaeger/api_v2/collector.proto",
        "proto/jaeger/api_v2/sampling.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    // SAFETY: the build script is single-threaded; nothing else reads the environment here.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
