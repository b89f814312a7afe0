//! Compiles the public contract in `proto/` with the pure-Rust `protox`, so a fresh machine needs no `protoc`.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/complaint/v1/complaint_data.proto",
        "proto/complaint/v1/diagnosis.proto",
        "proto/complaint/v1/admin.proto",
        "proto/complaint/v1/identity.proto",
        "proto/complaint/v1/cases.proto",
        "proto/complaint/v1/analytics.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-changed=proto");
    // `src/assets.rs` embeds these folders (include_dir cannot tell cargo on stable Rust): rebuild when
    // any file in them changes.
    println!("cargo:rerun-if-changed=adapters");
    println!("cargo:rerun-if-changed=scenarios");
    println!("cargo:rerun-if-changed=cases");
    println!("cargo:rerun-if-changed=config/gateway.example.toml");
    let fds = protox::compile(protos, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Server reflection and the field-path checks need the encoded descriptor set.
    std::fs::write(out.join("complaint_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // Malformed requests are INVALID_ARGUMENT, not INTERNAL (src/api/codec.rs).
        .codec_path("crate::api::codec::StrictCodec")
        // Hand-written so a warm read is answered with the view's kept bytes (src/api/view_response.rs).
        .extern_path(
            ".complaint.v1.GetSubscriberViewResponse",
            "crate::api::view_response::GetSubscriberViewResponse",
        )
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
