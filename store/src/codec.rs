//! Compact binary encodings of the hot records (messages and room heads), used by the
//! embedded backend instead of JSON: a history page decodes 50 of them, and every append
//! encodes one per message. Every value starts with a format version byte.
//!
//! Message: `1 | room u64 | seq u64 | id u64 | sender u64 | sent_at i64 |
//! client_msg_id (u16 length + UTF-8) | body (u32 length + UTF-8)`, integers big-endian.
//! A message with attachments starts with `2` instead and ends with `count u16` and per
//! attachment `file_id u64 | size u64 | width u32 | height u32 | name (u16 length + UTF-8) |
//! content_type (u16 length + UTF-8)`. Plain messages keep the shorter version 1.
//! An entry that is not a plain message (a change, a reply, an edited or deleted message, or
//! any entry once the room's log holds changes) starts with `3`: version 2's fields (with an
//! attachment count even when zero), then `ordinal u64 | kind u8 | target_seq u64 | extra
//! (u32 length + JSON of the reply, state, mentions, system event and forwarded mark, empty
//! when there are none)`. Versions 1 and 2
//! read as kind message with ordinal = seq, which they were.
//! Head: `2 | epoch u64 | last_seq u64 | 0 or (1 + message)` (version 1, written before
//! fencing epochs, has no epoch and reads as epoch 0); version 3 adds `0 or (1 + preview
//! message) | count u32 | deleted seqs u64...`, then optionally mention marks `count u32 |
//! (seq u64 | sender u64 | all u8 | users u16 | user u64...)...`, then optionally the room's
//! settings `u32 length + JSON` (`RoomMeta`; mention marks are then written even when none).

use serde::{Deserialize, Serialize};

use crate::{
    error::StoreError,
    records::{
        AttachmentRecord, EntryKind, MentionMark, MentionRecord, MessageRecord, MessageState,
        ReplyRecord, RoomHead,
    },
    system::{RoomMeta, SystemRecord},
};

const VERSION: u8 = 1;
const VERSION_ATTACHMENTS: u8 = 2;
const VERSION_TIMELINE: u8 = 3;
const HEAD_VERSION: u8 = 2;
const HEAD_VERSION_TIMELINE: u8 = 3;

/// The rarely present parts of an entry, as JSON (small, and open to new fields).
#[derive(Serialize, Deserialize, Default)]
struct Extra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<ReplyRecord>,
    #[serde(default, skip_serializing_if = "MessageState::is_empty")]
    state: MessageState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<MentionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system: Option<SystemRecord>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    forwarded: bool,
}

/// Whether an entry needs version 3 (anything but a plain message at ordinal = seq).
fn is_timeline(m: &MessageRecord) -> bool {
    m.ordinal != m.seq
        || m.kind != EntryKind::Message
        || m.target_seq != 0
        || m.reply.is_some()
        || !m.state.is_empty()
        || !m.mentions.is_empty()
        || m.forwarded
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} record"))
}

/// Appends the encoding of a message to `out`.
fn put_message(out: &mut Vec<u8>, m: &MessageRecord) -> Result<(), StoreError> {
    let id_len = u16::try_from(m.client_msg_id.len())
        .map_err(|_| StoreError::Invalid("client_msg_id too long".into()))?;
    let body_len =
        u32::try_from(m.body.len()).map_err(|_| StoreError::Invalid("body too long".into()))?;
    out.reserve(43 + m.client_msg_id.len() + m.body.len());
    let version = if is_timeline(m) {
        VERSION_TIMELINE
    } else if m.attachments.is_empty() {
        VERSION
    } else {
        VERSION_ATTACHMENTS
    };
    out.push(version);
    for v in [m.room_id, m.seq, m.id, m.sender_id] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&m.sent_at_ms.to_be_bytes());
    out.extend_from_slice(&id_len.to_be_bytes());
    out.extend_from_slice(m.client_msg_id.as_bytes());
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(m.body.as_bytes());
    if version != VERSION {
        put_attachments(out, &m.attachments)?;
    }
    if version == VERSION_TIMELINE {
        put_timeline(out, m)?;
    }
    Ok(())
}

fn put_timeline(out: &mut Vec<u8>, m: &MessageRecord) -> Result<(), StoreError> {
    out.extend_from_slice(&m.ordinal.to_be_bytes());
    out.push(m.kind.code());
    out.extend_from_slice(&m.target_seq.to_be_bytes());
    let plain = m.reply.is_none() && m.state.is_empty() && m.mentions.is_empty();
    let extra = if plain && m.system.is_none() && !m.forwarded {
        Vec::new()
    } else {
        let extra = Extra {
            reply: m.reply.clone(),
            state: m.state.clone(),
            mentions: m.mentions.clone(),
            system: m.system.clone(),
            forwarded: m.forwarded,
        };
        serde_json::to_vec(&extra).map_err(|e| StoreError::Invalid(e.to_string()))?
    };
    let len =
        u32::try_from(extra.len()).map_err(|_| StoreError::Invalid("entry too long".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&extra);
    Ok(())
}

fn put_short_string(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), StoreError> {
    let len =
        u16::try_from(s.len()).map_err(|_| StoreError::Invalid(format!("{what} too long")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_attachments(out: &mut Vec<u8>, attachments: &[AttachmentRecord]) -> Result<(), StoreError> {
    let count = u16::try_from(attachments.len())
        .map_err(|_| StoreError::Invalid("too many attachments".into()))?;
    out.extend_from_slice(&count.to_be_bytes());
    for a in attachments {
        out.extend_from_slice(&a.file_id.to_be_bytes());
        out.extend_from_slice(&a.size.to_be_bytes());
        out.extend_from_slice(&a.width.to_be_bytes());
        out.extend_from_slice(&a.height.to_be_bytes());
        put_short_string(out, &a.name, "attachment name")?;
        put_short_string(out, &a.content_type, "attachment content type")?;
    }
    Ok(())
}

/// Encodes a message.
pub fn encode_message(m: &MessageRecord) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    put_message(&mut out, m)?;
    Ok(out)
}

/// A cursor over bytes that fails instead of panicking on short input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2)?.try_into().ok().map(u16::from_be_bytes)
    }

    fn short_string(&mut self) -> Option<String> {
        let len = self.u16()?;
        self.string(usize::from(len))
    }

    fn string(&mut self, len: usize) -> Option<String> {
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

fn read_attachment(r: &mut Reader<'_>) -> Option<AttachmentRecord> {
    let (file_id, size, width, height) = (r.u64()?, r.u64()?, r.u32()?, r.u32()?);
    Some(AttachmentRecord {
        file_id,
        size,
        width,
        height,
        name: r.short_string()?,
        content_type: r.short_string()?,
    })
}

fn read_message(r: &mut Reader<'_>) -> Option<MessageRecord> {
    let version = r.u8()?;
    if !matches!(version, VERSION | VERSION_ATTACHMENTS | VERSION_TIMELINE) {
        return None;
    }
    let (room_id, seq, id, sender_id) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    let sent_at_ms = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let id_len = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    let client_msg_id = r.string(usize::from(id_len))?;
    let body_len = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
    let body = r.string(usize::try_from(body_len).ok()?)?;
    let mut attachments = Vec::new();
    if version != VERSION {
        let count = r.u16()?;
        for _ in 0..count {
            attachments.push(read_attachment(r)?);
        }
    }
    let (ordinal, kind, target_seq, extra) = if version == VERSION_TIMELINE {
        let (ordinal, kind, target) = (r.u64()?, EntryKind::from_code(r.u8()?)?, r.u64()?);
        let len = usize::try_from(r.u32()?).ok()?;
        let extra = match r.take(len)? {
            [] => Extra::default(),
            json => serde_json::from_slice(json).ok()?,
        };
        (ordinal, kind, target, extra)
    } else {
        (seq, EntryKind::Message, 0, Extra::default())
    };
    Some(MessageRecord {
        room_id,
        seq,
        id,
        sender_id,
        client_msg_id,
        body,
        sent_at_ms,
        attachments,
        kind,
        target_seq,
        ordinal,
        reply: extra.reply,
        state: extra.state,
        mentions: extra.mentions,
        system: extra.system,
        forwarded: extra.forwarded,
    })
}

/// Decodes a message; `Corrupt` on anything malformed (never panics).
pub fn decode_message(bytes: &[u8]) -> Result<MessageRecord, StoreError> {
    let mut r = Reader(bytes);
    let m = read_message(&mut r).ok_or_else(|| corrupt("message"))?;
    if !r.0.is_empty() {
        return Err(corrupt("message"));
    }
    Ok(m)
}

/// Encodes a room head.
pub fn encode_head(h: &RoomHead) -> Result<Vec<u8>, StoreError> {
    let timeline = h.preview.is_some()
        || !h.deleted.is_empty()
        || !h.mentions.is_empty()
        || !h.meta.is_empty();
    let mut out = vec![if timeline {
        HEAD_VERSION_TIMELINE
    } else {
        HEAD_VERSION
    }];
    out.extend_from_slice(&h.epoch.to_be_bytes());
    out.extend_from_slice(&h.last_seq.to_be_bytes());
    put_optional_message(&mut out, h.last_message.as_ref())?;
    if timeline {
        put_head_timeline(&mut out, h)?;
    }
    Ok(out)
}

/// Encodes the head's timeline part alone (the CQL head keeps it in its own column).
pub fn encode_head_timeline(h: &RoomHead) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    put_head_timeline(&mut out, h)?;
    Ok(out)
}

/// Decodes [`encode_head_timeline`] into `head` (empty bytes: nothing to add).
pub fn decode_head_timeline(bytes: &[u8], head: &mut RoomHead) -> Result<(), StoreError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader(bytes);
    read_head_timeline(&mut r, head)
        .filter(|()| r.0.is_empty())
        .ok_or_else(|| corrupt("room head timeline"))
}

fn put_head_timeline(out: &mut Vec<u8>, h: &RoomHead) -> Result<(), StoreError> {
    put_optional_message(out, h.preview.as_ref())?;
    let count = u32::try_from(h.deleted.len())
        .map_err(|_| StoreError::Invalid("too many deleted seqs".into()))?;
    out.extend_from_slice(&count.to_be_bytes());
    for seq in &h.deleted {
        out.extend_from_slice(&seq.to_be_bytes());
    }
    // Mention marks and settings came later: heads written before end here, so both parts
    // are optional (settings follow the marks, so marks are written when either is present).
    if !h.mentions.is_empty() || !h.meta.is_empty() {
        let count = u32::try_from(h.mentions.len())
            .map_err(|_| StoreError::Invalid("too many mention marks".into()))?;
        out.extend_from_slice(&count.to_be_bytes());
        for mark in &h.mentions {
            out.extend_from_slice(&mark.seq.to_be_bytes());
            out.extend_from_slice(&mark.sender_id.to_be_bytes());
            out.push(u8::from(mark.all));
            let users = u16::try_from(mark.users.len())
                .map_err(|_| StoreError::Invalid("too many mentioned users".into()))?;
            out.extend_from_slice(&users.to_be_bytes());
            for u in &mark.users {
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
    }
    if !h.meta.is_empty() {
        let meta = h.meta.encode();
        let len = u32::try_from(meta.len())
            .map_err(|_| StoreError::Invalid("room settings too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&meta);
    }
    Ok(())
}

fn read_head_timeline(r: &mut Reader<'_>, head: &mut RoomHead) -> Option<()> {
    head.preview = read_optional_message(r)?;
    let count = r.u32()?;
    for _ in 0..count {
        head.deleted.push(r.u64()?);
    }
    if r.0.is_empty() {
        return Some(());
    }
    let count = r.u32()?;
    for _ in 0..count {
        let (seq, sender_id) = (r.u64()?, r.u64()?);
        let all = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let users = (0..r.u16()?).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
        head.mentions.push(MentionMark {
            seq,
            sender_id,
            users,
            all,
        });
    }
    if !r.0.is_empty() {
        let len = usize::try_from(r.u32()?).ok()?;
        head.meta = RoomMeta::decode(r.take(len)?)?;
    }
    Some(())
}

fn put_optional_message(out: &mut Vec<u8>, m: Option<&MessageRecord>) -> Result<(), StoreError> {
    match m {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_message(out, m)?;
        }
    }
    Ok(())
}

fn read_optional_message(r: &mut Reader<'_>) -> Option<Option<MessageRecord>> {
    match r.u8()? {
        0 => Some(None),
        1 => Some(Some(read_message(r)?)),
        _ => None,
    }
}

/// Decodes a room head; `Corrupt` on anything malformed.
pub fn decode_head(bytes: &[u8]) -> Result<RoomHead, StoreError> {
    let mut r = Reader(bytes);
    let head = (|| {
        let version = r.u8()?;
        let epoch = match version {
            VERSION => 0,
            HEAD_VERSION | HEAD_VERSION_TIMELINE => r.u64()?,
            _ => return None,
        };
        let last_seq = r.u64()?;
        let last_message = read_optional_message(&mut r)?;
        let mut head = RoomHead {
            epoch,
            last_seq,
            last_message,
            ..RoomHead::default()
        };
        if version == HEAD_VERSION_TIMELINE {
            read_head_timeline(&mut r, &mut head)?;
        }
        r.0.is_empty().then_some(head)
    })();
    head.ok_or_else(|| corrupt("room head"))
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
