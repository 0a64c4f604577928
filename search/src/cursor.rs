//! Where a page of hits ends: the newest-first order key of its last hit, opaque to
//! clients (URL-safe base64 of a version byte and three big-endian integers).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chat_store::{MessageRecord, RoomId, Seq};

const VERSION: u8 = 1;

/// The order key of a hit: time, then room, then seq (hits are listed in descending order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The hit's sequencing time.
    pub sent_at_ms: i64,
    /// Its room.
    pub room: RoomId,
    /// Its seq.
    pub seq: Seq,
}

/// A cursor that is not one this server handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one a search returned")]
pub struct BadCursor;

impl Cursor {
    /// The key of a message.
    pub fn of(m: &MessageRecord) -> Self {
        Self {
            sent_at_ms: m.sent_at_ms,
            room: m.room_id,
            seq: m.seq,
        }
    }

    /// The text handed to clients.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(25);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.sent_at_ms.to_be_bytes());
        bytes.extend_from_slice(&self.room.to_be_bytes());
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor a client passed back.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        let [VERSION, rest @ ..] = bytes.as_slice() else {
            return Err(BadCursor);
        };
        let int = |i: usize| -> Result<[u8; 8], BadCursor> {
            rest.get(i * 8..i * 8 + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or(BadCursor)
        };
        if rest.len() != 24 {
            return Err(BadCursor);
        }
        Ok(Self {
            sent_at_ms: i64::from_be_bytes(int(0)?),
            room: u64::from_be_bytes(int(1)?),
            seq: u64::from_be_bytes(int(2)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_anything_else() {
        let c = Cursor {
            sent_at_ms: 1_700_000_000_000,
            room: 42,
            seq: 7,
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in [
            "",
            "!!",
            "AAAA",
            &c.encode()[..10],
            &format!("{}A", c.encode()),
        ] {
            assert_eq!(Cursor::decode(bad), Err(BadCursor), "{bad:?}");
        }
    }
}
