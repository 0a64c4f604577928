//! Who is online, as this node knows it: a user is online while at least one of their
//! connections is open. User session actors are the only writers.

use std::{collections::HashSet, sync::RwLock};

use chat_store::UserId;

/// The set of online users.
#[derive(Debug, Default)]
pub struct Presence {
    online: RwLock<HashSet<UserId>>,
}

impl Presence {
    /// Records a user as online or offline.
    pub fn set(&self, user: UserId, online: bool) {
        let mut set = self.online.write().unwrap_or_else(|p| p.into_inner());
        if online {
            set.insert(user);
        } else {
            set.remove(&user);
        }
    }

    /// Whether a user is online.
    pub fn is_online(&self, user: UserId) -> bool {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user)
    }
}
