//! `ConnectionActor`: one per client connection, on the node holding the socket. The
//! transport decodes frames and hands them here (the one command dispatcher for every
//! transport); replies and events leave through the connection's bounded outbound queue.
//!
//! Commands that touch only this connection's state (authenticate, open, close) run inline,
//! in order. Sends are handed to their room in order, then their acks are awaited off the
//! actor, so one client can pipeline many sends. Everything else runs as a task. The number
//! of commands in flight is bounded by permits the transport's reader must acquire.
//!
//! An idle, authenticated connection releases its actor (hibernates); the transport talks to
//! the connection through its [`ConnectionSlot`], which wakes a new actor when needed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chat_proto::v1::{
    self, Authenticated, ClientFrame, CloseCode, ServerFrame, client_frame::Command,
    server_frame::Payload,
};
use chat_store::UserRecord;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::OwnedSemaphorePermit;

use super::{
    commands,
    entries::{self, Entry},
    message::ConnectionMessage,
    slot::ConnectionSlot,
};
use crate::{
    error::{ChatError, Reason},
    hub::{OpenRooms, Topic},
    outbound::OutboundSender,
    room::{RoomOp, RoomOutcome},
    services::Services,
    spawn::spawn_child,
};

/// Start-up arguments.
pub struct ConnectionArgs {
    /// The connection's lasting state (kept while the actor hibernates).
    pub slot: Arc<ConnectionSlot>,
}

/// The connection's state while its actor is awake.
pub struct ConnectionState {
    slot: Arc<ConnectionSlot>,
    conn_id: u64,
    services: Services,
    outbound: OutboundSender,
    user: Option<Arc<UserRecord>>,
    open_rooms: Arc<OpenRooms>,
    /// The pending authentication deadline; cancelled once authenticated (an idle socket
    /// should not keep a timer task alive).
    auth_timer:
        Option<tokio::task::JoinHandle<Result<(), ractor::MessagingErr<ConnectionMessage>>>>,
    idle_ticker: Option<tokio::task::JoinHandle<()>>,
    last_activity: Instant,
    /// Stopping to hibernate, not because the connection ended.
    hibernating: bool,
}

/// The connection actor (see the module docs).
pub struct ConnectionActor;

/// Builds a reply frame.
fn reply(request_id: u32, payload: Payload) -> ServerFrame {
    ServerFrame {
        request_id,
        payload: Some(payload),
    }
}

/// Builds an error reply frame.
fn error_frame(request_id: u32, error: &ChatError) -> ServerFrame {
    reply(request_id, Payload::Error(error.to_proto()))
}

impl Actor for ConnectionActor {
    type Msg = ConnectionMessage;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConnectionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let slot = args.slot;
        let config = &slot.services().core.config;
        let user = slot.user();
        // Only a new connection waits for authentication; a woken one already has it.
        let auth_timer = user.is_none().then(|| {
            let deadline = Duration::from_secs(config.auth_timeout_secs);
            myself.send_after(deadline, || ConnectionMessage::AuthDeadline)
        });
        let idle = Duration::from_secs(config.connection_idle_secs);
        let idle_ticker = Some(myself.send_interval(idle / 2, || ConnectionMessage::IdleTick));
        Ok(ConnectionState {
            conn_id: slot.conn_id,
            services: slot.services().clone(),
            outbound: slot.outbound.clone(),
            user,
            open_rooms: slot.open_rooms.clone(),
            auth_timer,
            idle_ticker,
            last_activity: Instant::now(),
            hibernating: false,
            slot,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for timer in [state.idle_ticker.take()].into_iter().flatten() {
            timer.abort();
        }
        if let Some(timer) = state.auth_timer.take() {
            timer.abort();
        }
        if state.hibernating {
            return Ok(());
        }
        state.slot.cleanup().await;
        // If the transport is still up (the actor stopped for another reason), end it.
        state
            .outbound
            .close(CloseCode::Draining, "connection ended");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            // Boxed: the command futures are large, and whatever `handle` holds inline is
            // paid for by every idle connection's actor task, for its whole life.
            ConnectionMessage::Frame(frame, permit) => {
                state.last_activity = Instant::now();
                Box::pin(on_frame(state, frame, permit)).await;
            }
            ConnectionMessage::Reject(request_id, error, _permit) => {
                state.last_activity = Instant::now();
                state.outbound.send_frame(error_frame(request_id, &error));
            }
            ConnectionMessage::IdleTick => {
                let idle = Duration::from_secs(state.services.core.config.connection_idle_secs);
                if state.last_activity.elapsed() >= idle && state.slot.try_release(&myself).await {
                    state.hibernating = true;
                    myself.stop(Some("hibernate".into()));
                }
            }
            ConnectionMessage::TransportClosed => myself.stop(None),
            ConnectionMessage::AuthDeadline => {
                if state.user.is_none() {
                    state
                        .outbound
                        .close(CloseCode::AuthTimeout, "authentication timeout");
                    myself.stop(Some("auth timeout".into()));
                }
            }
        }
        Ok(())
    }
}

async fn on_frame(
    state: &mut ConnectionState,
    frame: ClientFrame,
    permit: Option<OwnedSemaphorePermit>,
) {
    let request_id = frame.request_id;
    let Some(command) = frame.command else {
        let e = ChatError::invalid(Reason::UnknownCommand, "unknown or missing command");
        state.outbound.send_frame(error_frame(request_id, &e));
        return;
    };
    let Some(user) = state.user.clone() else {
        if let Command::Authenticate(a) = command {
            authenticate(state, request_id, &a.access_token).await;
        } else {
            let e =
                ChatError::Unauthenticated(Reason::NotAuthenticated, "authenticate first".into());
            state.outbound.send_frame(error_frame(request_id, &e));
        }
        return;
    };
    if let Err(e) = still_authorized(state) {
        // The token expired or its log-in was revoked a moment ago (the registry closes
        // the connection within a second; nothing more is served meanwhile).
        state.outbound.send_frame(error_frame(request_id, &e));
        if let Some(code) = e.close_code() {
            state.outbound.close(code, e.reason().as_str());
        }
        return;
    }
    let command = match Entry::of(command) {
        Ok(entry) => return add_entry(state, &user, request_id, entry, permit).await,
        Err(other) => other,
    };
    match command {
        Command::Authenticate(a) => reauthenticate(state, &user, request_id, &a.access_token),
        Command::OpenRoom(open) => open_room(state, &user, request_id, open).await,
        Command::CloseRoom(close) => {
            close_room(state, close.room_id);
            state
                .outbound
                .send_frame(reply(request_id, Payload::Ok(v1::Ok {})));
        }
        Command::LeaveRoom(leave) => leave_room(state, &user, request_id, leave.room_id).await,
        other => {
            let services = state.services.clone();
            let outbound = state.outbound.clone();
            tokio::spawn(async move {
                let frame = match commands::execute(&services, &user, other).await {
                    Ok(payload) => reply(request_id, payload),
                    Err(e) => error_frame(request_id, &e),
                };
                outbound.send_frame(frame);
                drop(permit);
            });
        }
    }
}

/// Whether the connection's token still holds: unexpired and its log-in not revoked
/// (in-memory checks only).
fn still_authorized(state: &ConnectionState) -> Result<(), ChatError> {
    let Some(access) = state.slot.access() else {
        return Err(ChatError::Unauthenticated(
            Reason::TokenExpired,
            "access token expired; authenticate again".into(),
        ));
    };
    if state
        .services
        .auth
        .revocations()
        .is_revoked(access.session_id)
    {
        return Err(ChatError::Unauthenticated(
            Reason::AuthRevoked,
            "this log-in was revoked; log in again".into(),
        ));
    }
    if access.expires_at_secs <= crate::ids::now_ms() / 1000 {
        return Err(ChatError::Unauthenticated(
            Reason::TokenExpired,
            "access token expired; authenticate again".into(),
        ));
    }
    Ok(())
}

/// `authenticate` on an authenticated connection: a fresh token for the same user extends
/// the connection's authority; nothing else about the connection changes.
fn reauthenticate(state: &ConnectionState, user: &UserRecord, request_id: u32, token: &str) {
    let services = &state.services;
    let frame = match services.auth.verify(token) {
        Ok(access) if access.user_id == user.id => {
            state.slot.set_access(access);
            reply(
                request_id,
                Payload::Authenticated(Authenticated {
                    user: Some(crate::convert::user(user)),
                    node_id: services.node_id().to_string(),
                }),
            )
        }
        Ok(_) => error_frame(
            request_id,
            &ChatError::FailedPrecondition(
                Reason::UserMismatch,
                "the token is another user's; open a new connection for them".into(),
            ),
        ),
        // The connection keeps its current token until that expires.
        Err(e) => error_frame(request_id, &e),
    };
    state.outbound.send_frame(frame);
}

async fn authenticate(state: &mut ConnectionState, request_id: u32, token: &str) {
    let services = &state.services;
    let authenticated = match services.auth.user_for_token(token).await {
        // One connection more for this user, within their cap.
        Ok((user, access)) => services
            .core
            .limits
            .user_connected(user.id)
            .map(|()| (Arc::new(user), access)),
        Err(e) => Err(e),
    };
    let (user, access) = match authenticated {
        Ok(found) => found,
        Err(e) => {
            state.outbound.send_frame(error_frame(request_id, &e));
            if let Some(code) = e.close_code() {
                state.outbound.close(code, e.reason().as_str());
            }
            return;
        }
    };
    state.slot.set_access(access);
    // Chat-list updates for rooms this connection has open are skipped: it gets the
    // messages themselves.
    services.core.hub.subscribe_filtered(
        Topic::User(user.id),
        state.conn_id,
        user.id,
        state.outbound.clone(),
        false,
        Some(state.open_rooms.clone()),
    );
    // Once authenticated, the user's events published on any node reach this connection
    // (room added, settings, friend requests): the NATS subscription is in place first.
    services.core.bus.ready().await;
    services.users.attach(user.id, state.conn_id).await;
    let payload = Payload::Authenticated(Authenticated {
        user: Some(crate::convert::user(&user)),
        node_id: services.node_id().to_string(),
    });
    state.outbound.send_frame(reply(request_id, payload));
    state.slot.set_user(user.clone());
    state.user = Some(user);
    if let Some(timer) = state.auth_timer.take() {
        timer.abort();
    }
    // A revocation may have landed between the check and the registration above.
    if services.auth.revocations().is_revoked(access.session_id) {
        state.outbound.close(CloseCode::AuthRevoked, "AUTH_REVOKED");
    }
}

/// Hands a timeline entry (a send, an edit, a delete) to its room in order; its ack is
/// awaited off the actor.
async fn add_entry(
    state: &ConnectionState,
    user: &UserRecord,
    request_id: u32,
    entry: Entry,
    permit: Option<OwnedSemaphorePermit>,
) {
    let room = entry.room_id();
    let pending = entries::start_entry(&state.services, user.id, entry).await;
    let outbound = state.outbound.clone();
    tokio::spawn(async move {
        let answer = match pending {
            Ok(started) => started.finish().await,
            Err(e) => Err(e),
        };
        outbound.send_frame(match answer {
            Ok(outcome) => reply(request_id, outcome.into_payload(room)),
            Err(e) => error_frame(request_id, &e),
        });
        drop(permit);
    });
}

async fn leave_room(state: &ConnectionState, user: &UserRecord, request_id: u32, room: u64) {
    let op = RoomOp::Leave { user: user.id };
    let frame = match state.services.rooms.request(room, op).await {
        Ok(outcome) => {
            close_room(state, room);
            reply(request_id, outcome.into_payload(room))
        }
        Err(e) => error_frame(request_id, &e),
    };
    state.outbound.send_frame(frame);
}

/// Stops delivering a room's events to this connection.
fn close_room(state: &ConnectionState, room: u64) {
    state
        .services
        .core
        .hub
        .unsubscribe(Topic::Room(room), state.conn_id);
    state.open_rooms.remove(room);
}

async fn open_room(
    state: &mut ConnectionState,
    user: &UserRecord,
    request_id: u32,
    open: v1::OpenRoomRequest,
) {
    let hub = &state.services.core.hub;
    let room = open.room_id;
    let since = open.since_seq;
    // Subscribe before taking the snapshot, buffering, so no event falls between the two.
    let sub = hub.subscribe(
        Topic::Room(room),
        state.conn_id,
        user.id,
        state.outbound.clone(),
        true,
    );
    // Events published anywhere from now on reach this node's hub.
    state.services.core.bus.ready().await;
    let op = RoomOp::Open {
        user: user.id,
        since,
    };
    let result = match state.services.rooms.request(room, op).await {
        Ok(RoomOutcome::Opened(opened)) => Ok(opened),
        Ok(other) => Err(ChatError::Internal(format!("open answered {other:?}"))),
        Err(e) => Err(e),
    };
    match result {
        Ok(opened) => {
            let reply_frame = reply(
                request_id,
                Payload::RoomOpened(crate::room::opened_to_proto(&opened)),
            );
            // The reply, then the recovered messages, then live ones newer than the snapshot.
            sub.activate(opened.snapshot.last_seq, |sink| {
                sink.send_frame(reply_frame);
                for m in opened.missed {
                    sink.send_frame(ServerFrame {
                        request_id: 0,
                        payload: Some(Payload::Message(m)),
                    });
                }
            });
            state.open_rooms.insert(room);
        }
        Err(e) => {
            // A failed re-open leaves the room closed: its old subscription was replaced.
            hub.unsubscribe(Topic::Room(room), state.conn_id);
            state.open_rooms.remove(room);
            state.outbound.send_frame(error_frame(request_id, &e));
        }
    }
}

/// Spawns an actor for a connection (at open, and to wake a hibernating one).
pub(super) async fn spawn(
    slot: Arc<ConnectionSlot>,
) -> Result<ActorRef<ConnectionMessage>, ChatError> {
    let registry = slot.registry.clone();
    let parent = registry
        .supervisor()
        .ok_or_else(|| ChatError::Internal("connection supervisor not started".into()))?;
    let conn_id = slot.conn_id;
    let actor = spawn_child(
        "connection actor",
        ConnectionActor,
        ConnectionArgs { slot },
        Some(parent),
    )
    .await?;
    registry.set_actor(conn_id, Some(actor.get_id()));
    Ok(actor)
}
