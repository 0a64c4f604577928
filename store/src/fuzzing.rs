//! Checks run by the coverage-guided fuzz harness (`fuzz/`) and by the tests that replay its
//! checked-in corpus. Not an API: each check feeds hostile bytes to the embedded backend's
//! record and key codecs (what a damaged disk or a bug elsewhere could hand them) and panics
//! when something that must hold does not.

use crate::{codec, keys};

/// Message and room-head records: decode or fail with `Corrupt`; what decodes re-encodes to
/// a record that decodes equal.
pub fn records(data: &[u8]) {
    if let Ok(m) = codec::decode_message(data) {
        let bytes = match codec::encode_message(&m) {
            Ok(b) => b,
            Err(e) => panic!("a decoded message does not encode: {e}"),
        };
        match codec::decode_message(&bytes) {
            Ok(again) => assert_eq!(again, m, "a message changed through its codec"),
            Err(e) => panic!("a re-encoded message does not decode: {e}"),
        }
    }
    if let Ok(h) = codec::decode_head(data) {
        let bytes = match codec::encode_head(&h) {
            Ok(b) => b,
            Err(e) => panic!("a decoded head does not encode: {e}"),
        };
        match codec::decode_head(&bytes) {
            Ok(again) => assert_eq!(again, h, "a room head changed through its codec"),
            Err(e) => panic!("a re-encoded head does not decode: {e}"),
        }
    }
}

/// Key fields: the first 8 bytes pick a field index (any `usize`), the rest is a key; a
/// field outside the key is `None`, never a panic, and fields read back what was written.
pub fn keys(data: &[u8]) {
    let (index, key) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (u64::from_le_bytes(*head) as usize, rest),
        None => (0, data),
    };
    let field = keys::read_u64(key, index);
    let expected = index
        .checked_mul(8)
        .and_then(|start| key.get(start..start.checked_add(8)?))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes);
    assert_eq!(field, expected, "field {index} of a {}-byte key", key.len());

    let text = String::from_utf8_lossy(key);
    let (a, b) = (index as u64, field.unwrap_or(u64::MAX));
    let idem = keys::idempotency(a, b, &text);
    assert_eq!(keys::read_u64(&idem, 0), Some(a));
    assert_eq!(keys::read_u64(&idem, 1), Some(b));
    assert_eq!(&idem[16..], text.as_bytes());
    let pair = keys::direct_pair(a, b);
    assert_eq!(
        pair,
        keys::direct_pair(b, a),
        "a pair's key ignores the order"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{AttachmentRecord, MessageRecord, RoomHead};

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
        inputs
    }

    /// Every checked-in input (seeds and what fuzzing found) passes the checks.
    #[test]
    fn the_corpus_replays() {
        corpus("store_records").iter().for_each(|i| records(i));
        corpus("store_keys").iter().for_each(|i| keys(i));
    }

    fn message(seq: u64, attachments: usize) -> MessageRecord {
        MessageRecord {
            room_id: 7,
            seq,
            id: 1 << 40 | seq,
            sender_id: 3,
            client_msg_id: format!("c{seq}"),
            body: "안녕 hello".into(),
            sent_at_ms: 1_700_000_000_000,
            attachments: (0..attachments as u64)
                .map(|i| AttachmentRecord {
                    file_id: 100 + i,
                    name: "사진.png".into(),
                    size: 1234,
                    content_type: "image/png".into(),
                    width: 3,
                    height: 2,
                })
                .collect(),
            ordinal: seq,
            ..MessageRecord::default()
        }
    }

    /// The seeds of `fuzz/corpus/store_*` as their generator makes them (with
    /// `CHAT_WRITE_SEEDS=1`, written instead; `chat_proto::fuzzing::seed` does the same for the
    /// other crates: this crate depends on no other).
    #[test]
    fn seeds_match_their_generator() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let put = |target: &str, name: &str, bytes: Vec<u8>| {
            let path = dir.join(target).join(name);
            if std::env::var("CHAT_WRITE_SEEDS").as_deref() == Ok("1") {
                std::fs::write(&path, &bytes).unwrap();
            } else {
                assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
            }
        };
        put(
            "store_records",
            "message",
            codec::encode_message(&message(1, 0)).unwrap(),
        );
        put(
            "store_records",
            "message-attachments",
            codec::encode_message(&message(2, 2)).unwrap(),
        );
        let mut edit = message(3, 1);
        edit.kind = crate::records::EntryKind::Edit;
        edit.target_seq = 1;
        edit.ordinal = 2;
        edit.reply = Some(message(1, 0).reply_snapshot());
        edit.state.changed_seq = 5;
        put(
            "store_records",
            "message-timeline",
            codec::encode_message(&edit).unwrap(),
        );
        let head = |last_message| RoomHead {
            epoch: 4,
            last_seq: 9,
            last_message,
            ..RoomHead::default()
        };
        put(
            "store_records",
            "head-timeline",
            codec::encode_head(&RoomHead {
                preview: Some(message(2, 0)),
                deleted: vec![2, 7],
                ..head(Some(edit.clone()))
            })
            .unwrap(),
        );
        put(
            "store_records",
            "head-empty",
            codec::encode_head(&head(None)).unwrap(),
        );
        put(
            "store_records",
            "head",
            codec::encode_head(&head(Some(message(9, 1)))).unwrap(),
        );
        let mut k = 2u64.to_le_bytes().to_vec();
        k.extend(keys::message(7, 8, 9));
        put("store_keys", "message-key", k);
        let mut k = 2u64.to_le_bytes().to_vec();
        k.extend(keys::idempotency(7, 3, "client-1"));
        put("store_keys", "idempotency-key", k);
    }
}
