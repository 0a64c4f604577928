//! "Delete for me": entries a member hid from their own view. Stored per member and room
//! (`RoomStore::hide_message`), kept here once read so history pages from the cache can
//! leave them out, and announced to all the member's devices.

use std::sync::Arc;

use chat_proto::v1::{self, server_frame::Payload};
use chat_store::{Seq, UserId};

use super::{
    ops::{Reply, RoomOutcome},
    state::RoomState,
};
use crate::{
    error::{ChatError, Reason},
    hub::{Event, Topic},
    outbound::EncodedFrame,
};

/// The seqs `user` hid, from memory or the store (then kept).
pub(super) async fn of(state: &mut RoomState, user: UserId) -> Result<Arc<Vec<Seq>>, ChatError> {
    if let Some(h) = state.hidden.get(&user) {
        return Ok(h.clone());
    }
    let seqs = Arc::new(
        state
            .core
            .store
            .hidden_messages(state.record.id, user)
            .await?,
    );
    state.hidden.insert(user, seqs.clone());
    Ok(seqs)
}

pub(super) async fn on_hide(state: &mut RoomState, user: UserId, seq: Seq, reply: Reply) {
    let _ = reply.send(hide(state, user, seq).await.map(|()| RoomOutcome::Done));
}

async fn hide(state: &mut RoomState, user: UserId, seq: Seq) -> Result<(), ChatError> {
    state.require_member(user)?;
    // What is not in the member's view of the log is not there to hide.
    if seq == 0 || seq > state.durable_seq || seq <= state.visible_from(user) {
        return Err(ChatError::NotFound(
            Reason::MessageNotFound,
            format!("no message at seq {seq}"),
        ));
    }
    let hidden = of(state, user).await?;
    if hidden.binary_search(&seq).is_err() {
        let max = state.core.config.max_hidden_per_room;
        if hidden.len() >= max {
            return Err(ChatError::ResourceExhausted(
                Reason::TooManyHidden,
                format!("at most {max} messages can be hidden in one room"),
                0,
            ));
        }
        if !state
            .core
            .store
            .hide_message(state.record.id, user, seq)
            .await?
        {
            return Err(ChatError::not_a_member());
        }
        let mut seqs = (*hidden).clone();
        let at = seqs.partition_point(|&s| s < seq);
        seqs.insert(at, seq);
        state.hidden.insert(user, Arc::new(seqs));
    }
    let frame = EncodedFrame::new(v1::ServerFrame {
        request_id: 0,
        payload: Some(Payload::MessageHidden(v1::MessageHidden {
            room_id: state.record.id,
            seq,
        })),
    });
    state
        .core
        .bus
        .publish(Topic::User(user), Arc::new(Event::new(frame)));
    Ok(())
}
