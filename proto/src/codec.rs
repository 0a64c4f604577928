//! Frame codecs: one function to decode a client frame and one to encode a server frame,
//! for each of the two WebSocket subprotocols.

use bytes::Bytes;
use prost::Message as _;

use crate::generated::chat::v1::{ClientFrame, ServerFrame};

/// How frames are encoded on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Canonical protobuf JSON in text frames (`chat.v1.json`).
    Json,
    /// Binary protobuf in binary frames (`chat.v1.proto`).
    Proto,
}

/// Why a client frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON, or JSON that does not match `ClientFrame`.
    #[error("malformed JSON frame: {0}")]
    Json(#[from] serde_json::Error),
    /// Not a valid protobuf `ClientFrame`.
    #[error("malformed protobuf frame: {0}")]
    Proto(#[from] prost::DecodeError),
}

impl DecodeError {
    /// What went wrong, for the client: where, never the decoder's internals.
    pub fn client_message(&self) -> String {
        match self {
            Self::Json(e) => format!("frame {}", json_problem(e)),
            Self::Proto(_) => "frame is not a valid protobuf chat.v1.ClientFrame".into(),
        }
    }
}

/// Describes a JSON decoding error for a client: its kind and position only.
pub fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("at line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Io | Category::Syntax => format!("is not valid JSON ({at})"),
        Category::Eof => "is cut short: the JSON ends early".into(),
        Category::Data => format!(
            "does not match the message ({at}): check the field names, value types and that \
             64-bit integers are strings or numbers"
        ),
    }
}

/// Decodes one client frame.
pub fn decode_client_frame(codec: Codec, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
    Ok(match codec {
        Codec::Json => serde_json::from_slice(bytes)?,
        Codec::Proto => ClientFrame::decode(bytes)?,
    })
}

/// Encodes one server frame.
pub fn encode_server_frame(codec: Codec, frame: &ServerFrame) -> Bytes {
    match codec {
        // Serializing a generated message to JSON cannot fail: no maps with non-string keys,
        // no floats that could be NaN. Fall back to an empty object rather than panic.
        Codec::Json => serde_json::to_vec(frame)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(b"{}")),
        Codec::Proto => Bytes::from(frame.encode_to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{SendAck, SendMessageRequest, client_frame, server_frame};

    #[test]
    fn json_round_trip_uses_proto_names_and_string_ids() {
        let frame = ServerFrame {
            request_id: 7,
            payload: Some(server_frame::Payload::SendAck(SendAck {
                room_id: u64::MAX,
                client_msg_id: "c1".into(),
                seq: 3,
                message_id: 42,
                sent_at_ms: 1_700_000_000_000,
            })),
        };
        let bytes = encode_server_frame(Codec::Json, &frame);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("\"request_id\":7"), "{text}");
        assert!(
            text.contains("\"room_id\":\"18446744073709551615\""),
            "{text}"
        );
        let back: ServerFrame = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn json_accepts_camel_case_and_numbers_for_ids() {
        let f = decode_client_frame(
            Codec::Json,
            br#"{"requestId":1,"sendMessage":{"roomId":5,"clientMsgId":"a","body":"hi"}}"#,
        )
        .unwrap();
        assert_eq!(
            f.command,
            Some(client_frame::Command::SendMessage(SendMessageRequest {
                room_id: 5,
                client_msg_id: "a".into(),
                body: "hi".into(),
                file_ids: Vec::new(),
                ..Default::default()
            }))
        );
    }

    #[test]
    fn unknown_command_decodes_to_none() {
        let f = decode_client_frame(Codec::Json, br#"{"request_id":9,"teleport":{}}"#).unwrap();
        assert_eq!(f.request_id, 9);
        assert!(f.command.is_none());
    }

    #[test]
    fn proto_round_trip() {
        let frame = ClientFrame {
            request_id: 2,
            command: Some(client_frame::Command::Ping(crate::v1::PingRequest {})),
        };
        let bytes = frame.encode_to_vec();
        assert_eq!(decode_client_frame(Codec::Proto, &bytes).unwrap(), frame);
        assert!(decode_client_frame(Codec::Proto, &[0xff, 0xff, 0xff]).is_err());
        assert!(decode_client_frame(Codec::Json, b"{not json").is_err());
    }
}
