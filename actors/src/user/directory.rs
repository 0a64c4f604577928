//! `UserDirectory`: how the rest of the node reaches user sessions, wherever placement puts
//! them, through the same [`Router`] as rooms.

use std::{sync::Arc, time::Duration};

use chat_cluster::{Key, View};
use chat_store::UserId;
use ractor::ActorCell;

use super::{
    local::LocalUsers,
    ops::{UserOp, UserOutcome},
};
use crate::{core::Core, route::Router, spawn::SpawnFailed};

/// Handle to the user sessions of the cluster. Cheap to clone.
#[derive(Clone)]
pub struct UserDirectory {
    node: Arc<str>,
    local: LocalUsers,
    router: Router,
}

impl UserDirectory {
    /// Starts this node's user supervisor under `parent`.
    pub(crate) async fn start(
        core: Arc<Core>,
        parent: Option<ActorCell>,
    ) -> Result<Self, SpawnFailed> {
        let timeout = Duration::from_millis(core.config.call_timeout_ms);
        let router = Router::new(core.placement.clone(), timeout, None);
        let node = core.placement.name().clone();
        let local = LocalUsers::start(core, parent, timeout).await?;
        Ok(Self {
            node,
            local,
            router,
        })
    }

    pub(super) fn local(&self) -> &LocalUsers {
        &self.local
    }

    /// Records a connection of `user` (held by this node) with the user's session, here or
    /// on the node that owns it.
    pub async fn attach(&self, user: UserId, conn: u64) {
        let _ = self
            .submit(user, UserOp::Attach((self.node.clone(), conn)))
            .await;
    }

    /// Forgets a connection of `user` (held by this node).
    pub async fn detach(&self, user: UserId, conn: u64) {
        let _ = self
            .submit(user, UserOp::Detach((self.node.clone(), conn)))
            .await;
    }

    /// Whether `user` has an open connection anywhere (asks the session's owner).
    pub async fn is_online(&self, user: UserId) -> bool {
        match self.submit(user, UserOp::IsOnline).await {
            Ok(pending) => matches!(pending.await, Ok(UserOutcome::Online(true))),
            Err(_) => false,
        }
    }

    async fn submit(
        &self,
        user: UserId,
        op: UserOp,
    ) -> Result<crate::route::Pending<UserOutcome>, crate::error::ChatError> {
        self.router
            .submit(Key::User(user), &self.local, user, op, 0)
            .await
    }

    /// Tells the sessions of this node that the members changed.
    pub fn view_changed(&self, view: Arc<View>) {
        self.local.view_changed(view);
    }
}
