//! Who may read a file: its uploader, everyone for an avatar, and whoever sees a message
//! that holds it (a member of its room whose view of the log reaches it: under history
//! visibility `joined`, a file sent before someone joined stays theirs to ask for only if
//! it is sent again later, e.g. forwarded).

use chat_store::{FileId, FileRecord, FileRef, SharedStore, UserId};

use crate::error::ChatError;

/// The file's metadata if `user` may read it, else `FILE_NOT_FOUND`.
pub(super) async fn readable(
    store: &SharedStore,
    user: UserId,
    id: FileId,
) -> Result<FileRecord, ChatError> {
    let file = store
        .file(id)
        .await?
        .ok_or_else(ChatError::file_not_found)?;
    if file.owner_id == user || file.public {
        return Ok(file);
    }
    for at in store.file_refs(id).await? {
        if sees(store, user, id, at).await? {
            return Ok(file);
        }
    }
    Err(ChatError::file_not_found())
}

/// Whether `user` sees the message `at` and it still holds the file.
async fn sees(
    store: &SharedStore,
    user: UserId,
    id: FileId,
    at: FileRef,
) -> Result<bool, ChatError> {
    let Some(joined) = store.member_join(at.room_id, user).await? else {
        return Ok(false);
    };
    if at.seq == 0 {
        // A share from before refs named their message: every member, as then.
        return Ok(true);
    }
    let Some(mut room) = store.room(at.room_id).await? else {
        return Ok(false);
    };
    let head = store.room_head(at.room_id).await?;
    room.apply(&head.meta);
    if at.seq <= room.visible_from(joined) || at.seq > head.last_seq {
        return Ok(false);
    }
    Ok(store
        .message(at.room_id, at.seq)
        .await?
        .is_some_and(|m| holds(&m, id)))
}

/// Whether a message (as it is now: a delete for everyone empties it) holds the file.
pub(super) fn holds(m: &chat_store::MessageRecord, id: FileId) -> bool {
    m.attachments.iter().any(|a| a.file_id == id)
}
