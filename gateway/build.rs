//! Generates the server side of `chat.v1.SessionService` by hand (tonic-build's manual
//! builder) so its responses can be frames already encoded once for every receiver, with a
//! codec of our own; the wire format is exactly `ServerFrame` (`proto/chat/v1/services.proto`
//! stays the contract, and clients use the generated stubs).

fn main() {
    let session = tonic_build::manual::Method::builder()
        .name("session")
        .route_name("Session")
        .input_type("chat_proto::v1::ClientFrame")
        .output_type("crate::grpc::codec::EncodedServerFrame")
        .codec_path("crate::grpc::codec::SessionCodec")
        .client_streaming()
        .server_streaming()
        .build();
    let service = tonic_build::manual::Service::builder()
        .name("SessionService")
        .package("chat.v1")
        .method(session)
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .build_transport(false)
        .compile(&[service]);
}
