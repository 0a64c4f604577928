//! Timeline entries a client adds: a message (maybe a reply), an edit, a delete for everyone.
//! Checked for shape here; the room checks them against its rules and sequences them, in
//! the order each connection sent them.

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use chat_store::{EntryKind, MentionRecord, RoomId, UserId};
use unicode_segmentation::UnicodeSegmentation;

use crate::{
    error::{ChatError, Reason},
    files::FileService,
    room::{RoomOp, RoomOutcome, SendRequest},
    route::Pending,
    services::Services,
};

const MAX_CLIENT_MSG_ID: usize = 64;

/// A command that adds an entry to a room's timeline.
pub(super) enum Entry {
    /// `send_message`.
    Send(v1::SendMessageRequest),
    /// `edit_message`.
    Edit(v1::EditMessageRequest),
    /// `delete_message`.
    Delete(v1::DeleteMessageRequest),
    /// `add_reaction`.
    React(v1::AddReactionRequest),
    /// `remove_reaction`.
    Unreact(v1::RemoveReactionRequest),
    /// `forward_message` (a message in the target room).
    Forward(v1::ForwardMessageRequest),
}

impl Entry {
    /// The entry a command adds, or the command back when it adds none. Every transport
    /// routes commands through this, so a new kind of entry is added here only.
    pub(super) fn of(command: Command) -> Result<Self, Command> {
        Ok(match command {
            Command::SendMessage(s) => Self::Send(s),
            Command::EditMessage(e) => Self::Edit(e),
            Command::DeleteMessage(d) => Self::Delete(d),
            Command::AddReaction(r) => Self::React(r),
            Command::RemoveReaction(r) => Self::Unreact(r),
            Command::ForwardMessage(f) => Self::Forward(f),
            other => return Err(other),
        })
    }

    /// The room it goes to.
    pub(super) fn room_id(&self) -> RoomId {
        match self {
            Self::Send(s) => s.room_id,
            Self::Edit(e) => e.room_id,
            Self::Delete(d) => d.room_id,
            Self::React(r) => r.room_id,
            Self::Unreact(r) => r.room_id,
            Self::Forward(f) => f.room_id,
        }
    }

    fn client_msg_id(&self) -> &str {
        match self {
            Self::Send(s) => &s.client_msg_id,
            Self::Edit(e) => &e.client_msg_id,
            Self::Delete(d) => &d.client_msg_id,
            Self::React(r) => &r.client_msg_id,
            Self::Unreact(r) => &r.client_msg_id,
            Self::Forward(f) => &f.client_msg_id,
        }
    }
}

fn validate_client_msg_id(id: &str) -> Result<(), ChatError> {
    if id.is_empty() || id.len() > MAX_CLIENT_MSG_ID || id.chars().any(char::is_control) {
        return Err(ChatError::invalid(
            Reason::InvalidClientMsgId,
            format!("client_msg_id must be 1-{MAX_CLIENT_MSG_ID} bytes without control characters"),
        ));
    }
    Ok(())
}

fn validate_body(services: &Services, body: &str, has_files: bool) -> Result<(), ChatError> {
    if body.trim().is_empty() && !has_files {
        return Err(ChatError::invalid(
            Reason::EmptyMessage,
            "message has neither text nor files",
        ));
    }
    let max = services.core.config.max_message_bytes;
    if body.len() > max {
        return Err(ChatError::invalid(
            Reason::MessageTooLong,
            format!("message body exceeds {max} bytes"),
        ));
    }
    Ok(())
}

/// Longest emoji accepted, in bytes (the longest family and flag sequences are ~35).
const MAX_EMOJI_BYTES: usize = 64;

/// One grapheme cluster that reads as a symbol: not a letter, digit, space, control or
/// format character at its start.
fn validate_emoji(emoji: &str) -> Result<(), ChatError> {
    let mut clusters = emoji.graphemes(true);
    let one = clusters.next().is_some() && clusters.next().is_none();
    let symbol = emoji.chars().next().is_some_and(starts_a_symbol);
    if !one || !symbol || emoji.len() > MAX_EMOJI_BYTES {
        return Err(ChatError::invalid(
            Reason::InvalidEmoji,
            "a reaction is one emoji (one grapheme cluster)",
        ));
    }
    Ok(())
}

/// Whether a grapheme cluster starting with `c` can be a symbol: not a letter, digit, space,
/// control, invisible format character, variation selector or combining mark.
fn starts_a_symbol(c: char) -> bool {
    let invisible = matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202F}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}');
    !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control() && !invisible
}

/// Mentions off the wire: a member or `@all`, never both or neither (ranges are checked by
/// the room, which knows its members).
fn mentions(wire: Vec<v1::Mention>) -> Result<Vec<MentionRecord>, ChatError> {
    wire.into_iter()
        .map(|m| match (m.user_id, m.all) {
            (0, false) | (1.., true) => Err(ChatError::invalid(
                Reason::InvalidMention,
                "a mention names one member (user_id) or everyone (all), not both",
            )),
            (user_id, _) => Ok(MentionRecord {
                user_id,
                offset: m.offset,
                length: m.length,
            }),
        })
        .collect()
}

fn require_seq(seq: u64) -> Result<(), ChatError> {
    if seq == 0 {
        return Err(ChatError::invalid(
            Reason::InvalidArgument,
            "seq must name a message (1 or more)",
        ));
    }
    Ok(())
}

/// A reaction added or taken back, checked for shape.
fn reaction(
    services: &Services,
    sender: UserId,
    kind: EntryKind,
    seq: u64,
    emoji: String,
    client_msg_id: String,
) -> Result<SendRequest, ChatError> {
    require_seq(seq)?;
    validate_emoji(&emoji)?;
    services.core.limits.message(sender)?;
    Ok(SendRequest {
        sender,
        client_msg_id,
        body: emoji,
        kind,
        target: seq,
        ..SendRequest::default()
    })
}

/// An entry its room accepted, to await.
pub(super) struct Started {
    ack: Pending<RoomOutcome>,
    /// Set for a delete for everyone: the files it released are erased before its sender
    /// hears back.
    erase_with: Option<FileService>,
}

impl Started {
    /// The ack once the entry is durable (and what it released is erased).
    pub(super) async fn finish(self) -> Result<RoomOutcome, ChatError> {
        let outcome = self.ack.await?;
        if let Some(files) = self.erase_with
            && let Err(e) = files.erase_released().await
        {
            // The delete stands; the sweeper erases the files later.
            tracing::warn!(error = %e, "erasing released files failed");
        }
        Ok(outcome)
    }
}

/// Validates an entry and hands it to its room, in call order.
pub(super) async fn start_entry(
    services: &Services,
    sender: UserId,
    entry: Entry,
) -> Result<Started, ChatError> {
    validate_client_msg_id(entry.client_msg_id())?;
    let room = entry.room_id();
    let erase_with = matches!(entry, Entry::Delete(_)).then(|| services.files.clone());
    let request = send_request(services, sender, entry).await?;
    let ack = services.rooms.submit(room, RoomOp::Send(request)).await?;
    Ok(Started { ack, erase_with })
}

/// What the room is asked to append for an entry, checked for shape.
async fn send_request(
    services: &Services,
    sender: UserId,
    entry: Entry,
) -> Result<SendRequest, ChatError> {
    let room = entry.room_id();
    Ok(match entry {
        Entry::Send(send) => {
            validate_body(services, &send.body, !send.file_ids.is_empty())?;
            let mentions = mentions(send.mentions)?;
            services.core.limits.message(sender)?;
            // Sharing the files first means every member who receives the message can
            // already download them. Awaited here, so sends from one connection keep their
            // order.
            let attachments = services
                .files
                .attach_to_room(sender, room, &send.file_ids)
                .await?;
            SendRequest {
                sender,
                client_msg_id: send.client_msg_id,
                body: send.body,
                attachments,
                reply_to: send.reply_to_seq,
                mentions,
                ..SendRequest::default()
            }
        }
        Entry::Edit(edit) => {
            require_seq(edit.seq)?;
            validate_body(services, &edit.body, false)?;
            let mentions = mentions(edit.mentions)?;
            services.core.limits.message(sender)?;
            SendRequest {
                sender,
                client_msg_id: edit.client_msg_id,
                body: edit.body,
                kind: EntryKind::Edit,
                target: edit.seq,
                mentions,
                ..SendRequest::default()
            }
        }
        Entry::React(r) => reaction(
            services,
            sender,
            EntryKind::ReactionAdd,
            r.seq,
            r.emoji,
            r.client_msg_id,
        )?,
        Entry::Unreact(r) => reaction(
            services,
            sender,
            EntryKind::ReactionRemove,
            r.seq,
            r.emoji,
            r.client_msg_id,
        )?,
        Entry::Delete(delete) => {
            require_seq(delete.seq)?;
            services.core.limits.message(sender)?;
            SendRequest {
                sender,
                client_msg_id: delete.client_msg_id,
                kind: EntryKind::Delete,
                target: delete.seq,
                ..SendRequest::default()
            }
        }
        Entry::Forward(f) => forward(services, sender, f).await?,
    })
}

/// A forward: the source message as the sender sees it (their view of its room's history),
/// its files readied for the target room under the sender's own access (they can read
/// them because they see that message), and a new message of the same body and files.
async fn forward(
    services: &Services,
    sender: UserId,
    f: v1::ForwardMessageRequest,
) -> Result<SendRequest, ChatError> {
    require_seq(f.seq)?;
    services.core.limits.message(sender)?;
    let op = RoomOp::MessageAt {
        user: sender,
        seq: f.seq,
    };
    let source = match services.rooms.request(f.from_room_id, op).await? {
        RoomOutcome::Reply(reply) => match *reply {
            Payload::Message(m) => m,
            other => return Err(unexpected(&other)),
        },
        other => return Err(unexpected(&other)),
    };
    let file_ids: Vec<u64> = source.attachments.iter().map(|a| a.file_id).collect();
    let attachments = services
        .files
        .attach_to_room(sender, f.room_id, &file_ids)
        .await?;
    Ok(SendRequest {
        sender,
        client_msg_id: f.client_msg_id,
        body: source.body,
        attachments,
        forwarded: true,
        ..SendRequest::default()
    })
}

fn unexpected(answer: &impl std::fmt::Debug) -> ChatError {
    ChatError::Internal(format!("forward: unexpected answer {answer:?}"))
}

#[cfg(test)]
mod tests {
    use super::validate_emoji;

    #[test]
    fn a_reaction_is_one_emoji() {
        for ok in ["👍", "❤️", "👨‍👩‍👧‍👦", "🇰🇷", "👍🏽", "☕", "✔️"]
        {
            assert!(validate_emoji(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "1", " ", "👍👍", "ab", "\u{200d}", "\n", "한", "👍 ",
        ] {
            assert!(validate_emoji(bad).is_err(), "{bad:?}");
        }
    }
}
