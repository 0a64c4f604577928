//! Slowing password guessing without locking the owner out. Failed log-ins are counted per
//! `(username, address)` and per username alone, and forgotten [`FORGET_AFTER`] after the
//! last one (or at a success):
//! - past `limits.login_failures_per_username_and_ip` failures, that address's attempts for
//!   that username are refused (`RATE_LIMITED`) for a backoff that doubles with each further
//!   failure (1 s, 2 s, 4 s ... up to [`MAX_BACKOFF`]);
//! - past `limits.login_failures_per_username` failures from anywhere, every attempt for the
//!   username waits (up to [`MAX_DELAY`]) before its password is checked: guessing from many
//!   addresses is slowed, but the owner, from an address of their own, still gets in.
//!
//! Only failures count, so the owner's successful log-ins never use anything up. Attempts
//! per address (any username) are a token bucket of their own (`limits.logins_per_ip_per_min`).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::{ChatError, Reason};

/// Failures are forgotten this long after the last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// The longest an address is refused for one username.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// The longest any attempt waits before its password is checked.
pub const MAX_DELAY: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    last: Instant,
}

/// Failures per key, each with the backoff it earned.
struct Failures<K> {
    strikes: Mutex<HashMap<K, Strikes>>,
    free: u32,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(free: u32) -> Self {
        Self {
            strikes: Mutex::default(),
            free,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Strikes>> {
        self.strikes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer `key` must wait (`None`: it may try now).
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let s = *self.lock().get(key)?;
        if s.count <= self.free || now.duration_since(s.last) >= FORGET_AFTER {
            return None;
        }
        let doublings = (s.count - self.free - 1).min(20);
        let backoff = Duration::from_secs(1u64 << doublings).min(MAX_BACKOFF);
        backoff.checked_sub(now.duration_since(s.last))
    }

    fn fail(&self, key: K, now: Instant) {
        let mut map = self.lock();
        let s = map.entry(key).or_insert(Strikes {
            count: 0,
            last: now,
        });
        if now.duration_since(s.last) >= FORGET_AFTER {
            s.count = 0;
        }
        s.count = s.count.saturating_add(1);
        s.last = now;
    }

    fn clear(&self, key: &K) {
        self.lock().remove(key);
    }

    fn sweep(&self, now: Instant) {
        self.lock()
            .retain(|_, s| now.duration_since(s.last) < FORGET_AFTER);
    }
}

/// The guessing policy (see the module docs).
pub struct Guessing {
    per_address: Failures<(String, Option<IpAddr>)>,
    per_username: Failures<String>,
}

fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Guessing {
    /// The policy with these free failures per `(username, address)` and per username.
    pub fn new(per_address: u32, per_username: u32) -> Self {
        Self {
            per_address: Failures::new(per_address),
            per_username: Failures::new(per_username),
        }
    }

    /// Whether an attempt for `username` from `ip` may be made now, and how long it must wait
    /// first.
    pub fn before_attempt(
        &self,
        ip: Option<IpAddr>,
        username: &str,
    ) -> Result<Duration, ChatError> {
        let now = Instant::now();
        let name = key(username);
        if let Some(wait) = self.per_address.wait(&(name.clone(), ip), now) {
            let ms = u32::try_from(wait.as_millis().max(1)).unwrap_or(u32::MAX);
            return Err(ChatError::ResourceExhausted(
                Reason::RateLimited,
                format!("too many failed log-ins for this user from here; retry in {ms} ms"),
                ms,
            ));
        }
        Ok(self
            .per_username
            .wait(&name, now)
            .map_or(Duration::ZERO, |d| d.min(MAX_DELAY)))
    }

    /// The attempt failed (a wrong password, or no such user).
    pub fn failed(&self, ip: Option<IpAddr>, username: &str) {
        let now = Instant::now();
        let name = key(username);
        self.per_address.fail((name.clone(), ip), now);
        self.per_username.fail(name, now);
    }

    /// The attempt succeeded: that address starts afresh for the username.
    pub fn succeeded(&self, ip: Option<IpAddr>, username: &str) {
        self.per_address.clear(&(key(username), ip));
    }

    /// Forgets failures old enough (keeps the maps small).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.per_address.sweep(now);
        self.per_username.sweep(now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_guesser_is_refused_while_the_owner_elsewhere_only_waits() {
        let g = Guessing::new(3, 5);
        let guesser: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let owner: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(g.before_attempt(guesser, "Ann").unwrap(), Duration::ZERO);
            g.failed(guesser, "ann");
        }
        g.failed(guesser, "ann");
        let refused = g.before_attempt(guesser, "ann").unwrap_err();
        assert_eq!(refused.reason(), Reason::RateLimited);
        assert!(refused.to_proto().retry_after_ms > 0);
        // Another username from the same address is not affected.
        assert_eq!(g.before_attempt(guesser, "ben").unwrap(), Duration::ZERO);
        // The owner, elsewhere, is not refused; past the global budget they only wait.
        assert_eq!(g.before_attempt(owner, "ann").unwrap(), Duration::ZERO);
        for _ in 0..3 {
            g.failed(guesser, "ann");
        }
        let wait = g.before_attempt(owner, "ann").unwrap();
        assert!(wait > Duration::ZERO && wait <= MAX_DELAY, "{wait:?}");
        g.succeeded(owner, "ann");
        g.sweep();
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let f = Failures::new(0);
        let t = Instant::now();
        f.fail(1, t);
        assert_eq!(f.wait(&1, t), Some(Duration::from_secs(1)));
        f.fail(1, t);
        assert_eq!(f.wait(&1, t), Some(Duration::from_secs(2)));
        for _ in 0..40 {
            f.fail(1, t);
        }
        assert_eq!(f.wait(&1, t), Some(MAX_BACKOFF));
        assert_eq!(f.wait(&1, t + MAX_BACKOFF), None);
        assert_eq!(f.wait(&2, t), None);
    }
}
