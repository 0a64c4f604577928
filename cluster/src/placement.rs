//! Who owns what: rendezvous (highest random weight) hashing of a room or user id over the
//! current members. Every node computes the same owner from the same view, and a change of
//! membership moves only the keys of the node that came or went.

use std::sync::Arc;

use tokio::sync::watch;

/// The members of the cluster as this node sees them, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Names of the ready members (this node included while it is not leaving).
    pub members: Vec<Arc<str>>,
    /// Bumped on every change.
    pub version: u64,
}

/// Where a key's actor lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// On this node.
    Local,
    /// On the named peer.
    Remote(Arc<str>),
}

/// What is placed: the hash input differs per kind so rooms and users spread independently.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// A room actor.
    Room(u64),
    /// A user session actor.
    User(u64),
}

/// This node's placement: its name and the live view. Single node: a view of one.
#[derive(Debug)]
pub struct Placement {
    name: Arc<str>,
    view: watch::Receiver<Arc<View>>,
    sender: watch::Sender<Arc<View>>,
}

impl Placement {
    /// A node named `name`, alone until membership says otherwise.
    pub fn new(name: &str) -> Self {
        let name: Arc<str> = Arc::from(name);
        let (sender, view) = watch::channel(Arc::new(View {
            members: vec![name.clone()],
            version: 0,
        }));
        Self { name, view, sender }
    }

    /// This node's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// A receiver that sees every new view.
    pub fn watch(&self) -> watch::Receiver<Arc<View>> {
        self.view.clone()
    }

    /// Installs a new member list (membership only); no-op when unchanged.
    pub fn set_members(&self, mut members: Vec<Arc<str>>) -> bool {
        members.sort();
        members.dedup();
        self.sender.send_if_modified(|view| {
            if view.members == members {
                return false;
            }
            *view = Arc::new(View {
                members,
                version: view.version + 1,
            });
            true
        })
    }

    /// The owner of `key` in the current view. With no members at all (this node is leaving
    /// and sees no peer) the answer is local: there is no one else to ask.
    pub fn owner(&self, key: Key) -> Owner {
        owner_in(&self.view.borrow(), &self.name, key)
    }

    /// Whether this node is the only member (no forwarding can happen).
    pub fn is_alone(&self) -> bool {
        let view = self.view.borrow();
        view.members.len() <= 1 && view.members.iter().all(|m| *m == self.name)
    }
}

/// The owner of `key` in `view`, seen from the node named `me`.
pub fn owner_in(view: &View, me: &Arc<str>, key: Key) -> Owner {
    let best = view
        .members
        .iter()
        .max_by_key(|member| (weight(member, key), *member));
    match best {
        Some(m) if m != me => Owner::Remote(m.clone()),
        _ => Owner::Local,
    }
}

/// The member's weight for a key: a stable hash (xxh3), the same on every node and build.
fn weight(member: &str, key: Key) -> u64 {
    let (tag, id) = match key {
        Key::Room(id) => (b'r', id),
        Key::User(id) => (b'u', id),
    };
    let mut input = Vec::with_capacity(member.len() + 9);
    input.extend_from_slice(member.as_bytes());
    input.push(tag);
    input.extend_from_slice(&id.to_be_bytes());
    xxhash_rust::xxh3::xxh3_64(&input)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn view(names: &[&str]) -> View {
        View {
            members: names.iter().map(|n| Arc::from(*n)).collect(),
            version: 1,
        }
    }

    fn owners(v: &View, keys: u64) -> Vec<Arc<str>> {
        let nobody: Arc<str> = Arc::from("");
        (0..keys)
            .map(|k| match owner_in(v, &nobody, Key::Room(k)) {
                Owner::Remote(n) => n,
                Owner::Local => nobody.clone(),
            })
            .collect()
    }

    #[test]
    fn keys_spread_evenly_and_only_a_leaving_members_keys_move() {
        let three = view(&["a", "b", "c"]);
        let before = owners(&three, 3000);
        for name in ["a", "b", "c"] {
            let n = before.iter().filter(|o| &***o == name).count();
            assert!((800..1200).contains(&n), "{name} owns {n} of 3000");
        }
        let two = view(&["a", "c"]);
        let after = owners(&two, 3000);
        for (b, a) in before.iter().zip(&after) {
            if &**b != "b" {
                assert_eq!(b, a, "a key of a staying member moved");
            }
        }
    }

    #[test]
    fn every_node_agrees_and_local_means_me() {
        let v = view(&["a", "b", "c"]);
        for k in 0..100 {
            let seen: Vec<Owner> = ["a", "b", "c"]
                .iter()
                .map(|me| owner_in(&v, &Arc::from(*me), Key::User(k)))
                .collect();
            assert_eq!(seen.iter().filter(|o| **o == Owner::Local).count(), 1);
        }
        let p = Placement::new("solo");
        assert!(p.is_alone());
        assert_eq!(p.owner(Key::Room(7)), Owner::Local);
        assert!(p.set_members(vec![Arc::from("solo"), Arc::from("peer")]));
        assert!(!p.set_members(vec![Arc::from("peer"), Arc::from("solo")]));
        assert_eq!(p.view().version, 1);
    }
}
