//! Compiles `chat/v1/*.proto` (and the nodes' own `chat/cluster/v1`) with protox (pure Rust: nothing to install), then generates
//! prost types, tonic client and server stubs, and the types' canonical protobuf-JSON serde
//! impls (pbjson).

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "chat/v1/errors.proto",
    "chat/v1/models.proto",
    "chat/v1/auth.proto",
    "chat/v1/frames.proto",
    "chat/v1/services.proto",
    "chat/cluster/v1/cluster.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(PROTOS, ["."])?;
    let descriptor_bytes = fds.encode_to_vec();
    // Reflection shows clients their protocol only, not what nodes say to each other.
    let public = prost_types::FileDescriptorSet {
        file: fds
            .file
            .iter()
            .filter(|f| f.package() == "chat.v1")
            .cloned()
            .collect(),
    };
    fs::write(
        out_dir.join("chat_v1_descriptor.bin"),
        public.encode_to_vec(),
    )?;

    tonic_prost_build::configure().compile_fds_with_config(fds, prost_build::Config::new())?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .preserve_proto_field_names()
        .emit_fields()
        .ignore_unknown_fields()
        .build(&[".chat.v1"])?;
    Ok(())
}
