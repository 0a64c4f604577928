//! Binary key layout of the embedded backend. Big-endian integers so byte order is numeric
//! order, which makes range scans (and reverse scans for history) follow seq order.

use crate::records::{FileRecord, RoomId, Seq, UserId};

/// Concatenates big-endian u64s into a key.
pub fn key_u64s<const N: usize>(parts: [u64; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(N * 8);
    for p in parts {
        out.extend_from_slice(&p.to_be_bytes());
    }
    out
}

/// Reads the big-endian u64 at `index` (in u64 units) of a key.
pub fn read_u64(key: &[u8], index: usize) -> Option<u64> {
    let start = index.checked_mul(8)?;
    // Checked: an index near usize::MAX / 8 would overflow the end (found by fuzzing).
    let bytes: [u8; 8] = key.get(start..start.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `(room, bucket, seq)`: a message.
pub fn message(room: RoomId, bucket: u64, seq: Seq) -> Vec<u8> {
    key_u64s([room, bucket, seq])
}

/// `(room, sender) ++ client_msg_id`: an idempotency key.
pub fn idempotency(room: RoomId, sender: UserId, client_msg_id: &str) -> Vec<u8> {
    let mut k = key_u64s([room, sender]);
    k.extend_from_slice(client_msg_id.as_bytes());
    k
}

/// `(created_at_ms, file id)`: a not-yet-attached file, oldest first.
pub fn pending_file(file: &FileRecord) -> Vec<u8> {
    key_u64s([
        u64::try_from(file.created_at_ms.max(0)).unwrap_or(0),
        file.id,
    ])
}

/// The direct-room key of an unordered pair.
pub fn direct_pair(a: UserId, b: UserId) -> Vec<u8> {
    key_u64s([a.min(b), a.max(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert!(message(1, 0, 255) < message(1, 0, 256));
        assert!(message(1, 0, u64::MAX) < message(1, 1, 0));
        assert!(message(1, u64::MAX, u64::MAX) < message(2, 0, 0));
    }

    #[test]
    fn read_back_and_short_keys() {
        let k = message(7, 8, 9);
        assert_eq!(read_u64(&k, 0), Some(7));
        assert_eq!(read_u64(&k, 2), Some(9));
        assert_eq!(read_u64(&k, 3), None);
        assert_eq!(read_u64(&k[..5], 0), None);
        assert_eq!(read_u64(&k, usize::MAX / 8), None);
        assert_eq!(read_u64(&k, usize::MAX), None);
    }

    #[test]
    fn direct_pair_is_unordered() {
        assert_eq!(direct_pair(3, 9), direct_pair(9, 3));
    }
}
