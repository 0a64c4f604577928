//! `UserSupervisor`: activates user sessions on attach, stops idle ones, and restarts none
//! (a crashed session is re-created by the next attach; its connections re-attach on their
//! next reconnect).

use std::{collections::HashMap, sync::Arc, time::Duration};

use chat_cluster::{Key, Owner, View};
use chat_store::UserId;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{
    actor::{UserArgs, UserSessionActor},
    messages::{UserMessage, UserSupervisorMessage},
};
use crate::{core::Core, spawn::spawn_child};

/// The user supervisor.
pub struct UserSupervisor;

/// Its state.
pub struct UserSupervisorState {
    core: Arc<Core>,
    /// How long to wait for a session's answer.
    timeout: Duration,
    sessions: HashMap<UserId, ActorRef<UserMessage>>,
    by_actor: HashMap<ActorId, UserId>,
}

impl Actor for UserSupervisor {
    type Msg = UserSupervisorMessage;
    type State = UserSupervisorState;
    type Arguments = Arc<Core>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        core: Arc<Core>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(UserSupervisorState {
            timeout: Duration::from_millis(core.config.call_timeout_ms),
            core,
            sessions: HashMap::new(),
            by_actor: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            UserSupervisorMessage::Attach(user, conn) => {
                let session = session_of(&myself, state, user).await?;
                let _ = session.cast(UserMessage::Attach(conn));
            }
            UserSupervisorMessage::Detach(user, conn) => {
                if let Some(s) = state.sessions.get(&user) {
                    let _ = s.cast(UserMessage::Detach(conn));
                }
            }
            UserSupervisorMessage::ViewChanged(view) => view_changed(state, &view),
            UserSupervisorMessage::IsOnline(user, reply) => match state.sessions.get(&user) {
                Some(s) => {
                    let s = s.clone();
                    let timeout = state.timeout;
                    tokio::spawn(async move {
                        let online = s.call(UserMessage::IsOnline, Some(timeout)).await;
                        let _ = reply
                            .send(matches!(online, Ok(ractor::rpc::CallResult::Success(true))));
                    });
                }
                None => {
                    let _ = reply.send(false);
                }
            },
            UserSupervisorMessage::Idle(user) => {
                if let Some(s) = state.sessions.get(&user).cloned() {
                    // Attaches are forwarded by this actor, so once the session answers, every
                    // attach sent before has been applied: an idle answer is final.
                    let stopped = s.call(UserMessage::StopIfIdle, Some(state.timeout)).await;
                    if matches!(stopped, Ok(ractor::rpc::CallResult::Success(true))) {
                        state.sessions.remove(&user);
                        state.by_actor.remove(&s.get_id());
                    }
                }
            }
        }
        let sessions = i64::try_from(state.sessions.len()).unwrap_or(i64::MAX);
        state.core.metrics.user_sessions.set(sessions);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match event {
            SupervisionEvent::ActorTerminated(cell, ..) => cell,
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(%error, "user session crashed");
                cell
            }
            _ => return Ok(()),
        };
        if let Some(user) = state.by_actor.remove(&cell.get_id())
            && state
                .sessions
                .get(&user)
                .is_some_and(|s| s.get_id() == cell.get_id())
        {
            state.sessions.remove(&user);
        }
        let sessions = i64::try_from(state.sessions.len()).unwrap_or(i64::MAX);
        state.core.metrics.user_sessions.set(sessions);
        Ok(())
    }
}

/// The session of `user`, spawned if there is none.
async fn session_of(
    myself: &ActorRef<UserSupervisorMessage>,
    state: &mut UserSupervisorState,
    user: UserId,
) -> Result<ActorRef<UserMessage>, ActorProcessingErr> {
    if let Some(s) = state.sessions.get(&user) {
        return Ok(s.clone());
    }
    let args = UserArgs {
        user_id: user,
        core: state.core.clone(),
        supervisor: myself.clone(),
    };
    let s = spawn_child(
        "user session",
        UserSessionActor,
        args,
        Some(myself.get_cell()),
    )
    .await?;
    state.by_actor.insert(s.get_id(), user);
    state.sessions.insert(user, s.clone());
    Ok(s)
}

/// Sessions this node no longer owns stop (silently: the new owner announces the user as
/// its connections attach there); the others forget connections on nodes gone.
fn view_changed(state: &mut UserSupervisorState, view: &Arc<View>) {
    let placement = &state.core.placement;
    let mut moved = Vec::new();
    for (&user, session) in &state.sessions {
        if placement.owner(Key::User(user)) == Owner::Local {
            let _ = session.cast(UserMessage::Members(view.clone()));
        } else {
            session.stop(Some("moved".into()));
            moved.push(user);
        }
    }
    for user in moved {
        if let Some(s) = state.sessions.remove(&user) {
            state.by_actor.remove(&s.get_id());
        }
    }
}
