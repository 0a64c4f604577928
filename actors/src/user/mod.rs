//! `UserSessionActor`: one per online user in the cluster, on the node placement picks for
//! the user. It is the user's presence authority (online while any of their connections is,
//! on any node) and the place where the user's devices meet. It lingers a grace period after the last connection closes, then asks its
//! supervisor to stop it; the supervisor serializes that with new attaches so none is lost.

mod supervisor;

use std::{collections::HashSet, sync::Arc, time::Duration};

use chat_store::UserId;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub use supervisor::{UserDirectory, UserSupervisor, UserSupervisorMessage};

use chat_proto::v1::{PresenceChanged, ServerFrame, server_frame::Payload};

use crate::{
    cluster::View,
    core::Core,
    hub::{Event, Topic},
    outbound::EncodedFrame,
};

/// A connection, cluster-wide: the node holding its socket and its id there.
pub type ConnKey = (Arc<str>, u64);

/// Messages to a user session.
#[derive(ractor_cluster::RactorMessage)]
pub enum UserMessage {
    /// A connection of this user opened.
    Attach(ConnKey),
    /// A connection of this user closed.
    Detach(ConnKey),
    /// The cluster's members changed: connections on nodes that left are gone.
    Members(Arc<View>),
    /// Is any connection of this user open?
    IsOnline(RpcReplyPort<bool>),
    /// The grace period of generation `n` ended.
    GraceExpired(u64),
    /// Stop if still without connections (asked by the supervisor); replies whether it stops.
    StopIfIdle(RpcReplyPort<bool>),
}

/// Start-up arguments.
pub struct UserArgs {
    /// The user.
    pub user_id: UserId,
    /// Shared wiring.
    pub core: Arc<Core>,
    /// The supervisor to ask for a stop.
    pub supervisor: ActorRef<UserSupervisorMessage>,
}

/// The session's state.
pub struct UserState {
    args: UserArgs,
    connections: HashSet<ConnKey>,
    /// Bumped on every change, so a stale grace timer does nothing.
    generation: u64,
}

/// The user session actor (see the module docs).
pub struct UserSessionActor;

impl Actor for UserSessionActor {
    type Msg = UserMessage;
    type State = UserState;
    type Arguments = UserArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: UserArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(UserState {
            args,
            connections: HashSet::new(),
            generation: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            UserMessage::Attach(conn) => {
                state.generation += 1;
                if state.connections.insert(conn) && state.connections.len() == 1 {
                    announce_presence(state, true).await;
                }
            }
            UserMessage::Detach(conn) => {
                if state.connections.remove(&conn) {
                    went_idle_if_empty(&myself, state).await;
                }
            }
            UserMessage::Members(view) => {
                let before = state.connections.len();
                state
                    .connections
                    .retain(|(node, _)| view.members.contains(node));
                if state.connections.len() < before {
                    went_idle_if_empty(&myself, state).await;
                }
            }
            UserMessage::IsOnline(reply) => {
                let _ = reply.send(!state.connections.is_empty());
            }
            UserMessage::GraceExpired(generation) => {
                if generation == state.generation && state.connections.is_empty() {
                    let _ = state
                        .args
                        .supervisor
                        .cast(UserSupervisorMessage::Idle(state.args.user_id));
                }
            }
            UserMessage::StopIfIdle(reply) => {
                let idle = state.connections.is_empty();
                let _ = reply.send(idle);
                if idle {
                    myself.stop(Some("idle".into()));
                }
            }
        }
        Ok(())
    }
}

/// After losing a connection: with none left, the user is offline and the grace period runs.
async fn went_idle_if_empty(myself: &ActorRef<UserMessage>, state: &mut UserState) {
    state.generation += 1;
    if state.connections.is_empty() {
        announce_presence(state, false).await;
        let generation = state.generation;
        let grace = Duration::from_secs(state.args.core.config.user_session_grace_secs);
        myself.send_after(grace, move || UserMessage::GraceExpired(generation));
    }
}

/// Records the user's presence and tells every room they are in (connections with the room
/// open show it). Awaited in the actor so a quick connect-disconnect is announced in order.
async fn announce_presence(state: &UserState, online: bool) {
    let core = &state.args.core;
    let user = state.args.user_id;
    core.presence.set(user, core.placement.name(), online);
    core.bus.presence(user, online);
    tracing::debug!(user, online, "presence");
    let rooms = match core.store.user_rooms(user).await {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::warn!(user, error = %e, "cannot announce presence");
            return;
        }
    };
    crate::social::announce_presence(core, user, online).await;
    for room_id in rooms {
        let change = PresenceChanged {
            room_id,
            user_id: user,
            online,
        };
        let frame = EncodedFrame::new(ServerFrame {
            request_id: 0,
            payload: Some(Payload::PresenceChanged(change)),
        });
        core.bus
            .publish(Topic::Room(room_id), Arc::new(Event::new(frame)));
    }
}
