//! The user sessions of this node as a [`Shard`]: operations go to the user supervisor,
//! which keeps one session actor per user.

use std::{sync::Arc, time::Duration};

use chat_store::UserId;
use futures::future::BoxFuture;
use ractor::{ActorCell, ActorRef};

use super::{
    messages::UserSupervisorMessage,
    ops::{UserOp, UserOutcome},
    supervisor::UserSupervisor,
};
use crate::{
    core::Core,
    error::ChatError,
    route::{Pending, Shard},
    spawn::{SpawnFailed, spawn_child},
};

/// The user sessions of this node. Cheap to clone.
#[derive(Clone)]
pub(super) struct LocalUsers {
    supervisor: ActorRef<UserSupervisorMessage>,
    timeout: Duration,
}

impl LocalUsers {
    /// Starts the user supervisor under `parent`.
    pub(super) async fn start(
        core: Arc<Core>,
        parent: Option<ActorCell>,
        timeout: Duration,
    ) -> Result<Self, SpawnFailed> {
        let supervisor = spawn_child("user supervisor", UserSupervisor, core, parent).await?;
        Ok(Self {
            supervisor,
            timeout,
        })
    }

    /// Applies `op` to the session of `user` here. Attach and detach are cast at once, in
    /// call order; the answer to `IsOnline` is waited for apart.
    pub(super) fn apply(&self, user: UserId, op: UserOp) -> Pending<UserOutcome> {
        let message = match op {
            UserOp::Attach(conn) => UserSupervisorMessage::Attach(user, conn),
            UserOp::Detach(conn) => UserSupervisorMessage::Detach(user, conn),
            UserOp::IsOnline => {
                let (tx, rx) = ractor::concurrency::oneshot();
                if self
                    .supervisor
                    .cast(UserSupervisorMessage::IsOnline(user, tx.into()))
                    .is_err()
                {
                    return Box::pin(async { Ok(UserOutcome::Online(false)) });
                }
                let timeout = self.timeout;
                return Box::pin(async move {
                    let online = tokio::time::timeout(timeout, rx).await;
                    Ok(UserOutcome::Online(matches!(online, Ok(Ok(true)))))
                });
            }
        };
        let _ = self.supervisor.cast(message);
        Box::pin(async { Ok(UserOutcome::Done) })
    }

    /// Tells the sessions of this node that the members changed.
    pub(super) fn view_changed(&self, view: Arc<chat_cluster::View>) {
        let _ = self
            .supervisor
            .cast(UserSupervisorMessage::ViewChanged(view));
    }
}

impl Shard<UserOp, UserOutcome> for LocalUsers {
    fn submit(
        &self,
        user: UserId,
        op: UserOp,
        _hops: u32,
    ) -> BoxFuture<'_, Result<Pending<UserOutcome>, ChatError>> {
        let pending = self.apply(user, op);
        Box::pin(async move { Ok(pending) })
    }
}
