//! Reads about one message, off the actor like older history: who reacted with an emoji (a
//! page, with public profiles), the earlier bodies of an edited message, and the message
//! itself (to forward it).

use chat_proto::v1::{self, server_frame::Payload};
use chat_store::{MessageRecord, Seq, UserId};

use super::{
    ops::{Reply, RoomOutcome},
    state::RoomState,
    timeline::{self, no_message},
};
use crate::{
    convert,
    error::{ChatError, Reason},
};

/// The page of `users` after `after` (0: from the start), and the key of the next one.
fn page(users: &[UserId], after: UserId, limit: usize) -> (Vec<UserId>, UserId) {
    let start = match after {
        0 => 0,
        a => users
            .iter()
            .position(|&u| u == a)
            .map_or(users.len(), |i| i + 1),
    };
    let taken: Vec<UserId> = users.iter().skip(start).take(limit).copied().collect();
    let more = start + taken.len() < users.len();
    let next = if more {
        taken.last().copied().unwrap_or(0)
    } else {
        0
    };
    (taken, next)
}

/// The message at `seq` for a member: from the cache now, or a read of the store later.
fn lookup(
    state: &RoomState,
    user: UserId,
    seq: Seq,
) -> Result<impl Future<Output = Result<Option<MessageRecord>, ChatError>> + use<>, ChatError> {
    state.require_member(user)?;
    // Before the asker's view of the log (history visibility) is as absent as the future.
    if seq == 0 || seq > state.durable_seq || seq <= state.visible_from(user) {
        return Err(no_message(seq));
    }
    let cached = state.recent_entry(seq).cloned();
    let store = state.core.store.clone();
    let room = state.record.id;
    Ok(async move {
        match cached {
            Some(m) => Ok(Some(m)),
            None => Ok(store.message(room, seq).await?),
        }
    })
}

pub(super) fn on_versions(state: &RoomState, user: UserId, seq: Seq, reply: Reply) {
    let read = match lookup(state, user, seq) {
        Ok(r) => r,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let room = state.record.id;
    tokio::spawn(async move {
        let answer = read.await.map(|m| {
            let versions = m
                .map(|m| m.state.versions)
                .unwrap_or_default()
                .into_iter()
                .map(|v| v1::MessageVersion {
                    body: v.body,
                    since_ms: v.since_ms,
                })
                .collect();
            let list = v1::MessageVersions {
                room_id: room,
                seq,
                versions,
            };
            RoomOutcome::Reply(Box::new(Payload::MessageVersions(list)))
        });
        let _ = reply.send(answer);
    });
}

pub(super) fn on_message_at(state: &RoomState, user: UserId, seq: Seq, reply: Reply) {
    let read = match lookup(state, user, seq) {
        Ok(r) => r,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    tokio::spawn(async move {
        let answer = read.await.and_then(|m| {
            let m = m.ok_or_else(|| no_message(seq))?;
            if !m.is_message() {
                return Err(ChatError::invalid(
                    Reason::NotAMessage,
                    format!("seq {seq} is not a message"),
                ));
            }
            timeline::require_not_deleted(&m)?;
            let message = convert::message_for(&m, 0, user);
            Ok(RoomOutcome::Reply(Box::new(Payload::Message(message))))
        });
        let _ = reply.send(answer);
    });
}

pub(super) fn on_list(
    state: &RoomState,
    user: UserId,
    seq: Seq,
    emoji: String,
    (after, limit): (UserId, usize),
    reply: Reply,
) {
    let read = match lookup(state, user, seq) {
        Ok(r) => r,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let store = state.core.store.clone();
    tokio::spawn(async move {
        let answer = async {
            let target = read.await?;
            let reactors = target
                .map(|m| m.reactors(&emoji).to_vec())
                .unwrap_or_default();
            let (ids, next_after) = page(&reactors, after, limit);
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                let profile = store.user_by_id(id).await?;
                users.push(profile.map_or(
                    v1::User {
                        id,
                        ..Default::default()
                    },
                    |u| convert::user(&u),
                ));
            }
            let list = v1::ReactionUsers { users, next_after };
            Ok::<_, ChatError>(RoomOutcome::Reply(Box::new(Payload::ReactionUsers(list))))
        };
        let _ = reply.send(answer.await);
    });
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_continue_after_the_last_user_and_end_with_zero() {
        let users = [5, 9, 2, 7];
        assert_eq!(page(&users, 0, 3), (vec![5, 9, 2], 2));
        assert_eq!(page(&users, 2, 3), (vec![7], 0));
        assert_eq!(page(&users, 0, 4), (vec![5, 9, 2, 7], 0));
        assert_eq!(page(&users, 42, 3), (vec![], 0), "a user no longer there");
    }
}
