//! `UserSupervisor`: activates user sessions on attach, stops idle ones, and restarts none
//! (a crashed session is re-created by the next attach; its connections re-attach on their
//! next reconnect). `UserDirectory` is the handle connections use.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chat_store::UserId;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use chat_proto::cluster as pb;
use prost::Message as _;

use super::{ConnKey, UserArgs, UserMessage, UserSessionActor};
use crate::{
    cluster::{Key, Owner, View, endpoint},
    core::Core,
    error::ChatError,
};

/// Messages to the user supervisor.
#[derive(ractor_cluster::RactorMessage)]
pub enum UserSupervisorMessage {
    /// A connection of a user opened.
    Attach(UserId, ConnKey),
    /// A connection of a user closed.
    Detach(UserId, ConnKey),
    /// The cluster's members changed: sessions this node no longer owns stop (their
    /// connections attach to the new owner), the others forget connections of nodes gone.
    ViewChanged(Arc<View>),
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
            UserSupervisorMessage::ViewChanged(view) => {
                let placement = &state.core.placement;
                let mut moved = Vec::new();
                for (&user, session) in &state.sessions {
                    if placement.owner(Key::User(user)) == Owner::Local {
                        let _ = session.cast(UserMessage::Members(view.clone()));
                    } else {
                        // Silently: the new owner announces the user as its connections
                        // attach there.
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

/// Handle to the user sessions of this node. Cheap to clone.
#[derive(Clone)]
pub struct UserDirectory {
    core: Arc<Core>,
    supervisor: ActorRef<UserSupervisorMessage>,
}

impl UserDirectory {
    /// Starts the user supervisor under `parent`.
    pub async fn start(core: Arc<Core>, parent: Option<ActorCell>) -> Result<Self, ChatError> {
        let supervisor =
            crate::spawn_child("user supervisor", UserSupervisor, core.clone(), parent).await?;
        Ok(Self { core, supervisor })
    }

    /// The node's shared wiring.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Records a connection of `user` (held by this node) with the user's session, here or
    /// on the node that owns it.
    pub fn attach(&self, user: UserId, conn: u64) {
        self.route(user, conn, true);
    }

    /// Forgets a connection of `user` (held by this node).
    pub fn detach(&self, user: UserId, conn: u64) {
        self.route(user, conn, false);
    }

    fn route(&self, user: UserId, conn: u64, attach: bool) {
        let me = self.core.placement.name().clone();
        match self.core.placement.owner(Key::User(user)) {
            Owner::Local => self.local(user, (me, conn), attach),
            Owner::Remote(node) => {
                use pb::user_request::Op;
                let c = pb::Connection {
                    node: me.to_string(),
                    conn_id: conn,
                };
                let op = if attach { Op::Attach(c) } else { Op::Detach(c) };
                let request = user_request(user, op);
                if endpoint::cast(&node, request).is_err() {
                    // The owner is unreachable; when membership drops it, every node
                    // attaches its connections to the new owner.
                    tracing::debug!(user, %node, "user session owner unreachable");
                }
            }
        }
    }

    fn local(&self, user: UserId, conn: ConnKey, attach: bool) {
        let message = if attach {
            UserSupervisorMessage::Attach(user, conn)
        } else {
            UserSupervisorMessage::Detach(user, conn)
        };
        let _ = self.supervisor.cast(message);
    }

    /// Tells the sessions of this node that the members changed.
    pub fn view_changed(&self, view: Arc<View>) {
        let _ = self
            .supervisor
            .cast(UserSupervisorMessage::ViewChanged(view));
    }

    /// A one-way request from a peer (its connections attaching and detaching).
    pub fn serve_peer_cast(&self, request: pb::UserRequest) {
        use pb::user_request::Op;
        let user = request.user_id;
        match request.op {
            Some(Op::Attach(c)) => self.local(user, (Arc::from(c.node), c.conn_id), true),
            Some(Op::Detach(c)) => self.local(user, (Arc::from(c.node), c.conn_id), false),
            _ => tracing::warn!("cluster: unexpected user request from a peer"),
        }
    }

    /// A request from a peer that wants an answer.
    pub async fn serve_peer_call(
        &self,
        request: pb::UserRequest,
    ) -> Result<pb::peer_reply::Kind, ChatError> {
        match request.op {
            Some(pb::user_request::Op::IsOnline(_)) => {
                let online = self.is_online_here(request.user_id).await;
                Ok(pb::peer_reply::Kind::Online(pb::Online { online }))
            }
            _ => Err(ChatError::Internal("cluster: unexpected user call".into())),
        }
    }

    /// Whether `user` has an open connection anywhere (asks the session's owner).
    pub async fn is_online(&self, user: UserId) -> bool {
        match self.core.placement.owner(Key::User(user)) {
            Owner::Local => self.is_online_here(user).await,
            Owner::Remote(node) => {
                let request = user_request(user, pb::user_request::Op::IsOnline(pb::IsOnline {}));
                let Ok(reply) = endpoint::call(&node, request, Duration::from_secs(5)) else {
                    return false;
                };
                matches!(
                    reply.await.map(|b| crate::cluster::codec::reply_kind(&b)),
                    Ok(Ok(pb::peer_reply::Kind::Online(pb::Online {
                        online: true
                    })))
                )
            }
        }
    }

    async fn is_online_here(&self, user: UserId) -> bool {
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

fn user_request(user: UserId, op: pb::user_request::Op) -> Vec<u8> {
    pb::PeerRequest {
        hops: 0,
        kind: Some(pb::peer_request::Kind::User(pb::UserRequest {
            user_id: user,
            op: Some(op),
        })),
    }
    .encode_to_vec()
}
