//! The table of who is online, each user with the node whose session vouches for it.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use chat_store::UserId;

/// The online users, each with the node whose session vouches for it.
#[derive(Debug, Default)]
pub struct PresenceTable {
    online: RwLock<HashMap<UserId, Arc<str>>>,
}

impl PresenceTable {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Arc<str>>> {
        self.online.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what `node` says of a user. An offline from a node that no longer vouches
    /// for the user (its session moved) changes nothing.
    pub fn set(&self, user: UserId, node: &Arc<str>, online: bool) {
        let mut map = self.write();
        if online {
            map.insert(user, node.clone());
        } else if map.get(&user).is_some_and(|n| n == node) {
            map.remove(&user);
        }
    }

    /// Replaces everything `node` said with `users` online.
    pub fn replace_node(&self, node: &Arc<str>, users: &[UserId]) {
        let mut map = self.write();
        map.retain(|_, n| n != node);
        for &u in users {
            map.insert(u, node.clone());
        }
    }

    /// Forgets what nodes outside `members` said.
    fn retain_nodes(&self, members: &[Arc<str>]) {
        let members: HashSet<&Arc<str>> = members.iter().collect();
        self.write().retain(|_, n| members.contains(n));
    }

    /// The users `node` vouches for.
    fn vouched_by(&self, node: &Arc<str>) -> Vec<UserId> {
        let map = self.online.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|(_, n)| *n == node)
            .map(|(u, _)| *u)
            .collect()
    }

    /// After a membership change seen by `node`: forgets what nodes outside `members` said,
    /// and keeps of what `node` said only the users it still `owned`; returns those.
    pub fn reconcile(
        &self,
        node: &Arc<str>,
        members: &[Arc<str>],
        owned: &dyn Fn(UserId) -> bool,
    ) -> Vec<UserId> {
        self.retain_nodes(members);
        let mine: Vec<UserId> = self
            .vouched_by(node)
            .into_iter()
            .filter(|&u| owned(u))
            .collect();
        self.replace_node(node, &mine);
        mine
    }

    /// Whether a user is online.
    pub fn is_online(&self, user: UserId) -> bool {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_sessions_late_offline_does_not_undo_the_new_owner() {
        let p = PresenceTable::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        p.set(1, &a, true);
        p.set(1, &b, true);
        p.set(1, &a, false);
        assert!(p.is_online(1));
        p.set(2, &a, true);
        p.retain_nodes(std::slice::from_ref(&b));
        assert!(!p.is_online(2));
        p.replace_node(&b, &[3]);
        assert!(!p.is_online(1));
        assert!(p.is_online(3));
        assert_eq!(p.vouched_by(&b), vec![3]);
    }
}
