//! `UserSupervisor`: activates user sessions on attach, stops idle ones, and restarts none
//! (a crashed session is re-created by the next attach; its connections re-attach on their
//! next reconnect). `UserDirectory` is the handle connections use.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chat_store::UserId;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use super::{UserArgs, UserMessage, UserSessionActor};
use crate::{core::Core, error::ChatError};

/// Messages to the user supervisor.
// Local-only today; variants become RactorClusterMessage when they cross nodes.
#[derive(ractor_cluster::RactorMessage)]
pub enum UserSupervisorMessage {
    /// A connection of a user opened.
    Attach(UserId, u64),
    /// A connection of a user closed.
    Detach(UserId, u64),
    /// Whether a user has a connection open.
    IsOnline(UserId, RpcReplyPort<bool>),
    /// A session has been without connections for its grace period.
    Idle(UserId),
}

/// The user supervisor.
pub struct UserSupervisor;

/// Its state.
pub struct UserSupervisorState {
    core: Arc<Core>,
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
                let session = match state.sessions.get(&user) {
                    Some(s) => s.clone(),
                    None => {
                        let args = UserArgs {
                            user_id: user,
                            core: state.core.clone(),
                            supervisor: myself.clone(),
                        };
                        let (s, _) =
                            Actor::spawn_linked(None, UserSessionActor, args, myself.get_cell())
                                .await?;
                        state.by_actor.insert(s.get_id(), user);
                        state.sessions.insert(user, s.clone());
                        s
                    }
                };
                let _ = session.cast(UserMessage::Attach(conn));
            }
            UserSupervisorMessage::Detach(user, conn) => {
                if let Some(s) = state.sessions.get(&user) {
                    let _ = s.cast(UserMessage::Detach(conn));
                }
            }
            UserSupervisorMessage::IsOnline(user, reply) => match state.sessions.get(&user) {
                Some(s) => {
                    let s = s.clone();
                    tokio::spawn(async move {
                        let online = s
                            .call(UserMessage::IsOnline, Some(Duration::from_secs(5)))
                            .await;
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
                    let stopped = s
                        .call(UserMessage::StopIfIdle, Some(Duration::from_secs(5)))
                        .await;
                    if matches!(stopped, Ok(ractor::rpc::CallResult::Success(true))) {
                        state.sessions.remove(&user);
                        state.by_actor.remove(&s.get_id());
                    }
                }
            }
        }
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
        Ok(())
    }
}

/// Handle to the user sessions of this node. Cheap to clone.
#[derive(Clone)]
pub struct UserDirectory {
    supervisor: ActorRef<UserSupervisorMessage>,
}

impl UserDirectory {
    /// Starts the user supervisor under `parent`.
    pub async fn start(core: Arc<Core>, parent: Option<ActorCell>) -> Result<Self, ChatError> {
        let supervisor =
            crate::spawn_child("user supervisor", UserSupervisor, core, parent).await?;
        Ok(Self { supervisor })
    }

    /// Records a connection of `user`.
    pub fn attach(&self, user: UserId, conn: u64) {
        let _ = self
            .supervisor
            .cast(UserSupervisorMessage::Attach(user, conn));
    }

    /// Forgets a connection of `user`.
    pub fn detach(&self, user: UserId, conn: u64) {
        let _ = self
            .supervisor
            .cast(UserSupervisorMessage::Detach(user, conn));
    }

    /// Whether `user` has an open connection on this node.
    pub async fn is_online(&self, user: UserId) -> bool {
        matches!(
            self.supervisor
                .call(
                    |r| UserSupervisorMessage::IsOnline(user, r),
                    Some(Duration::from_secs(5))
                )
                .await,
            Ok(ractor::rpc::CallResult::Success(true))
        )
    }

    /// The supervisor actor.
    pub fn supervisor(&self) -> &ActorRef<UserSupervisorMessage> {
        &self.supervisor
    }
}
