//! The `Session` stream's codec: client frames decoded with prost; server frames written as
//! the protobuf bytes the outbound queue already holds (encoded once per event, shared by
//! every receiver, WebSocket or gRPC), so fan-out costs a copy, not an encode, per receiver.
//! Small buffers: every open session keeps one of each.

use bytes::{BufMut as _, Bytes};
use chat_actors::{ChatError, Reason};
use chat_proto::v1::ClientFrame;
use prost::Message as _;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};

/// A `ServerFrame` in its protobuf encoding.
#[derive(Debug, Clone)]
pub struct EncodedServerFrame(pub Bytes);

/// Initial buffer of each direction of a session (they grow for larger frames).
const BUFFER: usize = 1024;
/// Encoded bytes after which the encoder yields (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER, YIELD_THRESHOLD)
}

/// See the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCodec;

impl Codec for SessionCodec {
    type Encode = EncodedServerFrame;
    type Decode = ClientFrame;
    type Encoder = FrameEncoder;
    type Decoder = FrameDecoder;

    fn encoder(&mut self) -> FrameEncoder {
        FrameEncoder
    }

    fn decoder(&mut self) -> FrameDecoder {
        FrameDecoder
    }
}

/// Writes pre-encoded frames.
#[derive(Debug)]
pub struct FrameEncoder;

impl Encoder for FrameEncoder {
    type Item = EncodedServerFrame;
    type Error = Status;

    fn encode(&mut self, item: EncodedServerFrame, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        settings()
    }
}

/// Decodes client frames.
#[derive(Debug)]
pub struct FrameDecoder;

impl Decoder for FrameDecoder {
    type Item = ClientFrame;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ClientFrame>, Status> {
        ClientFrame::decode(src).map(Some).map_err(|_| {
            let e = ChatError::invalid(
                Reason::MalformedFrame,
                "frame is not a valid protobuf chat.v1.ClientFrame",
            );
            crate::error::grpc_status(&e)
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        settings()
    }
}
