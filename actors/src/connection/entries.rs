//! Timeline entries a client adds: a message (maybe a reply), an edit, a delete for everyone.
//! Checked for shape here; the room checks them against its rules and sequences them, in
//! the order each connection sent them.

use chat_proto::v1;
use chat_store::{EntryKind, RoomId, UserId};

use crate::{
    error::{ChatError, Reason},
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
}

impl Entry {
    /// The room it goes to.
    pub(super) fn room_id(&self) -> RoomId {
        match self {
            Self::Send(s) => s.room_id,
            Self::Edit(e) => e.room_id,
            Self::Delete(d) => d.room_id,
        }
    }

    fn client_msg_id(&self) -> &str {
        match self {
            Self::Send(s) => &s.client_msg_id,
            Self::Edit(e) => &e.client_msg_id,
            Self::Delete(d) => &d.client_msg_id,
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

fn require_seq(seq: u64) -> Result<(), ChatError> {
    if seq == 0 {
        return Err(ChatError::invalid(
            Reason::InvalidArgument,
            "seq must name a message (1 or more)",
        ));
    }
    Ok(())
}

/// Validates an entry and hands it to its room, in call order. The returned future
/// resolves to the ack once the entry is durable.
pub(super) async fn start_entry(
    services: &Services,
    sender: UserId,
    entry: Entry,
) -> Result<Pending<RoomOutcome>, ChatError> {
    validate_client_msg_id(entry.client_msg_id())?;
    let room = entry.room_id();
    let request = match entry {
        Entry::Send(send) => {
            validate_body(services, &send.body, !send.file_ids.is_empty())?;
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
                ..SendRequest::default()
            }
        }
        Entry::Edit(edit) => {
            require_seq(edit.seq)?;
            validate_body(services, &edit.body, false)?;
            services.core.limits.message(sender)?;
            SendRequest {
                sender,
                client_msg_id: edit.client_msg_id,
                body: edit.body,
                kind: EntryKind::Edit,
                target: edit.seq,
                ..SendRequest::default()
            }
        }
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
    };
    services.rooms.submit(room, RoomOp::Send(request)).await
}
