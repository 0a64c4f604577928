//! `UserSessionActor`: one per online user in the cluster, on the node placement picks for
//! the user. It is the user's presence authority (online while any of their connections is,
//! on any node) and the place where the user's devices meet. It lingers a grace period after
//! the last connection closes, then asks its supervisor to stop it; the supervisor
//! serializes that with new attaches so none is lost.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chat_store::UserId;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{
    announce,
    messages::{UserMessage, UserSupervisorMessage},
    ops::ConnKey,
};
use crate::core::Core;

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
                    announce::presence(&state.args.core, state.args.user_id, true).await;
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
        announce::presence(&state.args.core, state.args.user_id, false).await;
        let generation = state.generation;
        let grace = Duration::from_secs(state.args.core.config.user_session_grace_secs);
        myself.send_after(grace, move || UserMessage::GraceExpired(generation));
    }
}
