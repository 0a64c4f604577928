//! Erasing what deletes for everyone released: a file no message holds any more loses its
//! metadata, then its bytes (original and thumbnail). The release queue is written with
//! the delete, so a crash at any point here only delays the erasure to the next look.

use chat_store::{FileId, SharedStore};

use super::access::holds;
use crate::error::ChatError;

/// Released files looked at per store query.
const RELEASE_PAGE: usize = 100;

/// What the refs of a released file say.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A message still holds it: it stays.
    Held,
    /// A message that may hold it is still being written: look again later.
    Undecided,
    /// Nothing holds it: erase it.
    Unheld,
}

/// The queue's files to erase now, taking the others off it (up to one page; the
/// caller loops while the page is full).
pub(super) async fn to_erase(store: &SharedStore) -> Result<(Vec<FileId>, bool), ChatError> {
    let page = store.released_files(RELEASE_PAGE).await?;
    let full = page.len() == RELEASE_PAGE;
    let mut erase = Vec::new();
    for id in page {
        let verdict = match store.file(id).await? {
            // An avatar stays; a file already erased has nothing left to do.
            Some(file) if !file.public => verdict(store, id).await?,
            _ => Verdict::Held,
        };
        match verdict {
            Verdict::Held => store.forget_released(id).await?,
            Verdict::Undecided => {}
            Verdict::Unheld => erase.push(id),
        }
    }
    Ok((erase, full))
}

/// Reads each ref's message, forgetting those that no longer hold the file.
async fn verdict(store: &SharedStore, id: FileId) -> Result<Verdict, ChatError> {
    let mut undecided = false;
    for at in store.file_refs(id).await? {
        if at.seq == 0 {
            return Ok(Verdict::Held);
        }
        if at.seq > store.room_head(at.room_id).await?.last_seq {
            undecided = true;
            continue;
        }
        match store.message(at.room_id, at.seq).await? {
            Some(m) if holds(&m, id) => return Ok(Verdict::Held),
            _ => store.remove_file_ref(id, at).await?,
        }
    }
    Ok(if undecided {
        Verdict::Undecided
    } else {
        Verdict::Unheld
    })
}
