//! `search_messages`: which rooms the caller may search and from where (membership, the
//! room's history visibility, what they hid), worked out from the store so any node
//! answers; then the search engine, and the hits as the caller sees messages.

use chat_proto::v1;
use chat_search::{BadCursor, Cursor, Filters, Query, QueryError, RoomView};
use chat_store::{MessageRecord, RoomId, UserId};

use crate::{
    convert,
    error::{ChatError, Reason},
    services::Services,
};

/// Hits per page when the request says 0.
const DEFAULT_LIMIT: u32 = 20;

/// Most hits per page.
const MAX_LIMIT: u32 = 50;

/// Rooms whose view is read at once.
const CONCURRENT_VIEWS: usize = 16;

fn query_error(e: QueryError) -> ChatError {
    let reason = match e {
        QueryError::Empty => Reason::EmptyQuery,
        QueryError::TooLong | QueryError::TooManyTerms => Reason::QueryTooLong,
    };
    ChatError::invalid(reason, e.to_string())
}

fn cursor_error(e: BadCursor) -> ChatError {
    ChatError::invalid(Reason::InvalidCursor, e.to_string())
}

/// What `user` may find in `room`, or `None` when they are not a member.
async fn view(
    services: &Services,
    user: UserId,
    room: RoomId,
) -> Result<Option<RoomView>, ChatError> {
    let store = &services.core.store;
    let Some(joined) = store.member_join(room, user).await? else {
        return Ok(None);
    };
    let Some(mut record) = store.room(room).await? else {
        return Ok(None);
    };
    record.apply(&store.room_head(room).await?.meta);
    Ok(Some(RoomView {
        room,
        visible_after: record.visible_from(joined),
        hidden: store.hidden_messages(room, user).await?,
    }))
}

/// The rooms searched: the one asked for, or every room of the caller.
async fn views(
    services: &Services,
    user: UserId,
    room: RoomId,
) -> Result<Vec<RoomView>, ChatError> {
    if room != 0 {
        return match view(services, user, room).await? {
            Some(v) => Ok(vec![v]),
            None => Err(ChatError::room_not_found()),
        };
    }
    let rooms = services.core.store.user_rooms(user).await?;
    let mut found = Vec::with_capacity(rooms.len());
    for chunk in rooms.chunks(CONCURRENT_VIEWS) {
        let reads = chunk.iter().map(|&r| view(services, user, r));
        for v in futures::future::try_join_all(reads).await? {
            found.extend(v);
        }
    }
    Ok(found)
}

/// A hit's message as the caller sees it, its quote refreshed like a history page's.
async fn shown(
    services: &Services,
    viewer: UserId,
    mut m: MessageRecord,
) -> Result<v1::Message, ChatError> {
    if let Some(reply) = m.reply.as_mut()
        && let Some(quoted) = services.core.store.message(m.room_id, reply.seq).await?
    {
        *reply = quoted.reply_snapshot();
    }
    Ok(convert::message_for(&m, 0, viewer))
}

/// Answers `search_messages` for `user`.
pub(super) async fn search_messages(
    services: &Services,
    user: UserId,
    req: v1::SearchMessagesRequest,
) -> Result<v1::SearchResults, ChatError> {
    let query = Query::parse(&req.query).map_err(query_error)?;
    let limit = match req.limit {
        0 => DEFAULT_LIMIT,
        n if n <= MAX_LIMIT => n,
        n => {
            return Err(ChatError::invalid(
                Reason::InvalidLimit,
                format!("limit {n} is over {MAX_LIMIT}"),
            ));
        }
    };
    let cursor = match req.cursor.as_str() {
        "" => None,
        c => Some(Cursor::decode(c).map_err(cursor_error)?),
    };
    let filters = Filters {
        sender: (req.sender_id != 0).then_some(req.sender_id),
        from_ms: (req.from_ms != 0).then_some(req.from_ms),
        until_ms: (req.until_ms != 0).then_some(req.until_ms),
        has_attachment: req.has_attachment,
        has_photo: req.has_photo,
    };
    let rooms = views(services, user, req.room_id).await?;
    let store = &services.core.store;
    let page = chat_search::search(store, &rooms, &query, &filters, cursor, limit as usize).await?;
    let mut hits = Vec::with_capacity(page.hits.len());
    for hit in page.hits {
        hits.push(v1::SearchHit {
            message: Some(shown(services, user, hit.message).await?),
            snippet: hit.snippet.text,
            highlights: hit
                .snippet
                .highlights
                .into_iter()
                .map(|(offset, length)| v1::TextRange { offset, length })
                .collect(),
        });
    }
    Ok(v1::SearchResults {
        hits,
        next_cursor: page.next.map(|c| c.encode()).unwrap_or_default(),
    })
}
