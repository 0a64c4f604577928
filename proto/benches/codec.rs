//! Frame encode/decode in both codecs. Run: `cargo bench -p chat-proto --bench codec`.
#![allow(missing_docs, clippy::unwrap_used)]

use chat_proto::{
    Codec, decode_client_frame, encode_server_frame,
    v1::{
        ClientFrame, Message, SendMessageRequest, ServerFrame, client_frame::Command,
        server_frame::Payload,
    },
};
use divan::black_box;
use prost::Message as _;

fn main() {
    divan::main();
}

fn event() -> ServerFrame {
    ServerFrame {
        request_id: 0,
        payload: Some(Payload::Message(Message {
            room_id: 383_980_371_000_000_512,
            seq: 123_456,
            id: 383_980_371_100_663_808,
            sender_id: 383_980_369_348_657_152,
            client_msg_id: "c-123456".into(),
            body: "x".repeat(100),
            sent_at_ms: 1_795_615_254_300,
            unread: 3,
            attachments: Vec::new(),
            ..Default::default()
        })),
    }
}

fn send() -> ClientFrame {
    ClientFrame {
        request_id: 42,
        command: Some(Command::SendMessage(SendMessageRequest {
            room_id: 383_980_371_000_000_512,
            client_msg_id: "c-123456".into(),
            body: "x".repeat(100),
            file_ids: Vec::new(),
            ..Default::default()
        })),
    }
}

#[divan::bench(args = [Codec::Json, Codec::Proto])]
fn encode_message_event(codec: Codec) -> bytes::Bytes {
    encode_server_frame(black_box(codec), black_box(&event()))
}

#[divan::bench(args = [Codec::Json, Codec::Proto])]
fn decode_send_command(bencher: divan::Bencher, codec: Codec) {
    let bytes = match codec {
        Codec::Json => serde_json::to_vec(&send()).unwrap(),
        Codec::Proto => send().encode_to_vec(),
    };
    bencher.bench(|| decode_client_frame(codec, black_box(&bytes)).unwrap());
}
