//! `RoomActor`: the one sequencer of a room. Loads the room from the store when it starts
//! (claiming its fencing epoch), dispatches each [`RoomOp`] to its handler, stops when idle
//! or drained. The handlers live by concern: `sequencer.rs` (sends and the write path),
//! `reads.rs` (open, history, mark-read, typing), `membership.rs` (invite, leave),
//! `timeline.rs` (the rules of replies, edits and deletes), `admin.rs` and `pins.rs` (the
//! owner's controls, the notice and pins).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chat_store::{AppendBatch, ReadCursor, RoomRecord, UserId};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{
    admin,
    cursors::ReadCursors,
    events, hidden,
    idempotency::IdemState,
    membership,
    ops::{Ack, RoomMessage, RoomOp, RoomOutcome},
    pins, reactions, reads, sequencer,
    state::RoomState,
    timeline,
};
use crate::{core::Core, error::ChatError};

/// Start-up arguments.
pub struct RoomArgs {
    /// The room's metadata (the supervisor checked it exists).
    pub record: RoomRecord,
    /// Shared wiring.
    pub core: Arc<Core>,
    /// The previous incarnation crashed: re-publish the recent tail so live subscribers
    /// fill any gap (each subscription delivers a seq at most once).
    pub recovering: bool,
}

/// The room actor (see the module docs).
pub struct RoomActor;

impl Actor for RoomActor {
    type Msg = RoomMessage;
    type State = RoomState;
    type Arguments = RoomArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RoomArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RoomState::new(args.core, args.record, args.recovering))
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Loading here rather than in pre_start keeps the supervisor from waiting on the
        // store; messages queue in the mailbox until this is done.
        load(state).await?;
        admin::settle_owner(&myself, state);
        if state.recovering {
            for m in &state.recent {
                let target = (!m.is_message())
                    .then(|| state.recent_entry(m.target_seq))
                    .flatten();
                events::publish_message(state, m, target);
            }
        }
        let period = Duration::from_secs(state.core.config.room_idle_secs.clamp(1, 60));
        state.ticker = Some(myself.send_interval(period, || RoomMessage::IdleTick));
        tracing::debug!(
            room = state.record.id,
            last_seq = state.last_seq,
            "room activated"
        );
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        sequencer::fail_all(state, &ChatError::room_unavailable());
        if let Some(waiters) = state.draining.take() {
            for w in waiters {
                let _ = w.send(());
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomMessage::Op(op, reply) => {
                state.last_activity = Instant::now();
                dispatch(&myself, state, op, reply).await;
            }
            RoomMessage::BatchDone(result) => sequencer::on_batch_done(&myself, state, result),
            RoomMessage::Drain(reply) => {
                state.last_activity = Instant::now();
                state.draining.get_or_insert_with(Vec::new).push(reply);
                sequencer::finish_drain_if_idle(&myself, state);
            }
            RoomMessage::IdleTick => {
                let idle = Duration::from_secs(state.core.config.room_idle_secs);
                if state.is_quiet() && state.last_activity.elapsed() >= idle {
                    myself.stop(Some("idle".into()));
                }
            }
            RoomMessage::InjectFault => {
                state.last_activity = Instant::now();
                if state.core.fault_injection {
                    return Err("injected fault".into());
                }
            }
        }
        Ok(())
    }
}

/// Each operation to its handler. Handlers that answer later (a send once durable, a
/// history page read off the actor) take the reply port; the others answer here.
async fn dispatch(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    op: RoomOp,
    reply: super::ops::Reply,
) {
    let answer = match op {
        RoomOp::Send(req) => {
            // A direct room's member who left comes back to read it, or the send fails.
            if let Err(e) = membership::readmit_away(myself, state, &req).await {
                let _ = reply.send(Err(e));
                return;
            }
            return sequencer::on_send(myself, state, req, reply).await;
        }
        RoomOp::History {
            user,
            before,
            limit,
        } => return reads::on_history(state, user, before, limit, reply).await,
        RoomOp::MarkRead { user, seq } => {
            return reads::on_mark_read(myself, state, user, seq, reply).await;
        }
        RoomOp::Open { user, since } => reads::on_open(state, user, since)
            .await
            .map(RoomOutcome::Opened),
        RoomOp::Typing { user } => reads::on_typing(state, user).map(|()| RoomOutcome::Done),
        RoomOp::Invite { by, users } => {
            return membership::on_invite(myself, state, by, users, reply).await;
        }
        RoomOp::Leave { user } => return membership::on_leave(myself, state, user, reply).await,
        RoomOp::Rename { by, name } => return admin::on_rename(myself, state, by, name, reply),
        RoomOp::Remove { by, user } => {
            return admin::on_remove(myself, state, by, user, reply).await;
        }
        RoomOp::TransferOwnership { by, to } => {
            return admin::on_transfer(myself, state, by, to, reply);
        }
        RoomOp::Hide { user, seq } => return hidden::on_hide(state, user, seq, reply).await,
        RoomOp::SetHistoryVisibility { by, shared } => {
            return admin::on_set_visibility(myself, state, by, shared, reply);
        }
        RoomOp::Reactions {
            user,
            seq,
            emoji,
            after,
            limit,
        } => return reactions::on_list(state, user, seq, emoji, (after, limit), reply),
        RoomOp::Versions { user, seq } => return reactions::on_versions(state, user, seq, reply),
        RoomOp::MessageAt { user, seq } => {
            return reactions::on_message_at(state, user, seq, reply);
        }
        RoomOp::SetNotice { by, text } => {
            return pins::on_set_notice(myself, state, by, text, reply);
        }
        RoomOp::Pin { by, seq, pinned } => {
            return pins::on_pin(myself, state, (by, seq, pinned), reply).await;
        }
        RoomOp::Pins { user } => pins::on_list(state, user).await,
        RoomOp::SetPermissions {
            by,
            invite_owner_only,
            pins_owner_only,
        } => {
            let reserved = (invite_owner_only, pins_owner_only);
            return admin::on_set_permissions(myself, state, by, reserved, reply);
        }
        RoomOp::RelationshipChanged => membership::load_block(state)
            .await
            .map(|()| RoomOutcome::Done),
    };
    let _ = reply.send(answer);
}

/// Claims the room and loads its members, cursors, head and recent messages.
async fn load(state: &mut RoomState) -> Result<(), ActorProcessingErr> {
    let core = state.core.clone();
    let store = &core.store;
    let room = state.record.id;
    // From here on this incarnation is the room's only writer; an older one (a crashed
    // actor's late append, another node during a failover) is fenced off.
    state.epoch = store.claim_room(room).await?;
    let joins = store.member_joins(room).await?;
    state.members = joins.iter().map(|&(u, _)| u).collect();
    state.joined = joins.into_iter().collect();
    membership::load_block(state).await?;
    let stored: HashMap<UserId, ReadCursor> = store.read_cursors(room).await?.into_iter().collect();
    state.cursors = ReadCursors::new(state.members.iter().copied(), &stored);
    let head = store.room_head(room).await?;
    let recent = store
        .history(room, 0, state.core.config.recent_cache)
        .await?;
    state.last_seq = head.last_seq;
    state.durable_seq = head.last_seq;
    // The new owner of a room resumes indexing it where the index's watermark says (an
    // old room's first start here builds its index).
    if head.last_seq > 0 {
        state.core.indexer.notify(room, head.last_seq);
    }
    state.ordinal = head.ordinal();
    state.durable_ordinal = head.ordinal();
    state.durable_preview = head.newest_message().cloned();
    state.timeline = head.preview.is_some()
        || !head.deleted.is_empty()
        || !head.mentions.is_empty()
        || !head.meta.is_empty();
    state.record.apply(&head.meta);
    state.meta = head.meta.clone();
    state.durable_meta = head.meta;
    state.durable_deleted = head.deleted;
    state.durable_mentions = head.mentions;
    state.last_ts = head.last_message.as_ref().map_or(0, |m| m.sent_at_ms);
    for m in recent.into_iter().rev() {
        state
            .idem
            .insert(m.sender_id, &m.client_msg_id, IdemState::Done(Ack::of(&m)));
        state.recent.push_back(m);
    }
    repair_changes(state).await
}

/// Writes the rewrites a previous owner committed but did not get to store (see
/// `timeline::unapplied_changes`).
async fn repair_changes(state: &mut RoomState) -> Result<(), ActorProcessingErr> {
    if !state.timeline {
        return Ok(());
    }
    let rewrites = timeline::unapplied_changes(state).await?;
    if rewrites.is_empty() {
        return Ok(());
    }
    tracing::info!(
        room = state.record.id,
        count = rewrites.len(),
        "re-applying changes a previous owner left unwritten"
    );
    let batch = AppendBatch {
        rewrites: rewrites.clone(),
        ..AppendBatch::default()
    };
    let store = state.core.store.clone();
    store
        .append(state.record.id, state.epoch, state.durable_seq, batch)
        .await?;
    for r in rewrites {
        if let Ok(i) = state.recent.binary_search_by_key(&r.seq, |m| m.seq) {
            state.recent[i] = r;
        }
    }
    Ok(())
}
