//! The binary encodings' tests: round trips, and every truncation or corruption an error.

use super::*;

fn m() -> MessageRecord {
    MessageRecord {
        room_id: u64::MAX,
        seq: 7,
        id: 1 << 40,
        sender_id: 3,
        client_msg_id: "c-ü".into(),
        body: "hello 👋".into(),
        sent_at_ms: -5,
        ordinal: 7,
        ..MessageRecord::default()
    }
}

fn change() -> MessageRecord {
    let mut c = with_attachments();
    c.ordinal = 4;
    c.kind = EntryKind::Edit;
    c.target_seq = 2;
    c.reply = Some(m().reply_snapshot());
    c.state.changed_seq = 9;
    c.state.versions.push(crate::records::VersionRecord {
        body: "old".into(),
        since_ms: 3,
    });
    c
}

fn with_attachments() -> MessageRecord {
    let mut m = m();
    m.attachments = vec![
        AttachmentRecord {
            file_id: 9,
            name: "cat 🐈.png".into(),
            size: 1 << 33,
            content_type: "image/png".into(),
            width: 640,
            height: 480,
        },
        AttachmentRecord {
            file_id: 10,
            name: "notes.txt".into(),
            size: 0,
            content_type: "text/plain".into(),
            width: 0,
            height: 0,
        },
    ];
    m
}

#[test]
fn round_trips() {
    assert_eq!(decode_message(&encode_message(&m()).unwrap()).unwrap(), m());
    let a = with_attachments();
    assert_eq!(decode_message(&encode_message(&a).unwrap()).unwrap(), a);
    assert_eq!(
        encode_message(&m()).unwrap()[0],
        VERSION,
        "plain stays version 1"
    );
    let c = change();
    assert_eq!(decode_message(&encode_message(&c).unwrap()).unwrap(), c);
    let mut no_extra = m();
    no_extra.ordinal = 3;
    assert_eq!(encode_message(&no_extra).unwrap()[0], VERSION_TIMELINE);
    assert_eq!(
        decode_message(&encode_message(&no_extra).unwrap()).unwrap(),
        no_extra
    );
    let forwarded = MessageRecord {
        forwarded: true,
        ..with_attachments()
    };
    let bytes = encode_message(&forwarded).unwrap();
    assert_eq!(bytes[0], VERSION_TIMELINE, "the mark needs the extra part");
    assert_eq!(decode_message(&bytes).unwrap(), forwarded);
    for h in [
        RoomHead::default(),
        RoomHead {
            epoch: 3,
            last_seq: 7,
            last_message: Some(m()),
            ..RoomHead::default()
        },
        RoomHead {
            epoch: 3,
            last_seq: 9,
            last_message: Some(change()),
            preview: Some(m()),
            deleted: vec![2, 5],
            ..RoomHead::default()
        },
        mentioned_head(),
    ] {
        assert_eq!(decode_head(&encode_head(&h).unwrap()).unwrap(), h);
    }
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    let bytes = encode_message(&with_attachments()).unwrap();
    for n in 0..bytes.len() {
        assert!(
            decode_message(&bytes[..n]).is_err(),
            "attachments prefix {n}"
        );
    }
    let bytes = encode_message(&change()).unwrap();
    for n in 0..bytes.len() {
        assert!(decode_message(&bytes[..n]).is_err(), "timeline prefix {n}");
    }
    let bytes = encode_message(&m()).unwrap();
    for n in 0..bytes.len() {
        assert!(decode_message(&bytes[..n]).is_err(), "prefix {n}");
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(decode_message(&extra).is_err());
    let mut bad_version = bytes.clone();
    bad_version[0] = 9;
    assert!(decode_message(&bad_version).is_err());
    let mut bad_utf8 = bytes;
    let last = bad_utf8.len() - 1;
    bad_utf8[last] = 0xff;
    assert!(decode_message(&bad_utf8).is_err());
    let head = encode_head(&RoomHead {
        epoch: 1,
        last_seq: 1,
        last_message: Some(m()),
        preview: Some(change()),
        deleted: vec![1],
        ..RoomHead::default()
    })
    .unwrap();
    for n in 0..head.len() {
        assert!(decode_head(&head[..n]).is_err(), "head prefix {n}");
    }
    // Mention marks are an optional tail: only a cut exactly before them decodes.
    let full = encode_head(&mentioned_head()).unwrap();
    let without = encode_head(&RoomHead {
        mentions: Vec::new(),
        ..mentioned_head()
    })
    .unwrap();
    for n in (0..full.len()).filter(|&n| n != without.len()) {
        assert!(decode_head(&full[..n]).is_err(), "mentions prefix {n}");
    }
}

fn mentioned_head() -> RoomHead {
    let mut mentioning = m();
    mentioning.mentions = vec![
        MentionRecord {
            user_id: 5,
            offset: 0,
            length: 4,
        },
        MentionRecord {
            user_id: 0,
            offset: 5,
            length: 4,
        },
    ];
    RoomHead {
        epoch: 3,
        last_seq: 9,
        last_message: Some(mentioning.clone()),
        preview: Some(mentioning.clone()),
        deleted: vec![2],
        mentions: vec![
            mentioning.mention_mark().unwrap(),
            MentionMark {
                seq: 9,
                sender_id: 4,
                users: vec![1, 2],
                all: false,
            },
        ],
        meta: RoomMeta::default(),
    }
}

#[test]
fn settings_and_system_entries_round_trip() {
    let mut renamed = m();
    renamed.kind = EntryKind::System;
    renamed.ordinal = 3;
    renamed.system = Some(SystemRecord {
        event: crate::system::SystemEvent::Joined,
        users: vec![4, 5],
    });
    assert_eq!(
        decode_message(&encode_message(&renamed).unwrap()).unwrap(),
        renamed
    );
    let meta = RoomMeta {
        owner: 5,
        name: Some("new".into()),
        shared_history: None,
        away: 3,
        pins: vec![2],
        changed_seq: 7,
        ..RoomMeta::default()
    };
    // Settings without mention marks, and with them.
    for mentions in [Vec::new(), mentioned_head().mentions] {
        let head = RoomHead {
            preview: None,
            deleted: Vec::new(),
            mentions,
            meta: meta.clone(),
            ..mentioned_head()
        };
        let bytes = encode_head(&head).unwrap();
        assert_eq!(decode_head(&bytes).unwrap(), head);
        // Only cuts before an optional part decode, as the head without it.
        let no_meta = RoomHead {
            meta: RoomMeta::default(),
            ..head.clone()
        };
        let no_marks = RoomHead {
            mentions: Vec::new(),
            ..no_meta.clone()
        };
        for n in 0..bytes.len() {
            if let Ok(cut) = decode_head(&bytes[..n]) {
                assert!(cut == no_meta || cut == no_marks, "prefix {n}");
            }
        }
        let before_meta = bytes.len() - 4 - meta.encode().len();
        assert_eq!(decode_head(&bytes[..before_meta]).unwrap(), no_meta);
    }
}
