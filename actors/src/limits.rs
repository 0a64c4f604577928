//! Abuse limits: token buckets (governor's GCRA) per user, per IP address and per username,
//! and counters of open connections. A refusal is `RESOURCE_EXHAUSTED`: `RATE_LIMITED` with a
//! `retry_after_ms` (retryable) for rates, `TOO_MANY_CONNECTIONS` for open connections.

use std::{
    collections::HashMap, hash::Hash, net::IpAddr, num::NonZeroU32, sync::Mutex, time::Duration,
};

use chat_store::UserId;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{ChatError, Reason},
    guessing::Guessing,
};

/// `[limits]` settings. Every rate is a token bucket: the burst is available at once, then
/// the rate refills it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Messages one user may send per second, sustained. Default 10.
    pub messages_per_sec: u32,
    /// Messages one user may send at once. Default 30.
    pub message_burst: u32,
    /// Rooms one user may create per hour (groups and new direct rooms). Default 60.
    pub rooms_per_hour: u32,
    /// Sign-ups from one IP address per hour. Default 20.
    pub signups_per_ip_per_hour: u32,
    /// Log-in attempts from one IP address per minute. Default 30.
    pub logins_per_ip_per_min: u32,
    /// Failed log-ins for one username from one address before that address is refused for
    /// it, with a doubling backoff (see `guessing.rs`). Default 5.
    pub login_failures_per_username_and_ip: u32,
    /// Failed log-ins for one username from anywhere before every attempt for it waits (up
    /// to 3 s) before its password is checked; the owner is slowed, never refused. Default
    /// 20.
    pub login_failures_per_username: u32,
    /// Open connections (sockets, poll sessions, gRPC sessions) of one user. Default 20.
    pub connections_per_user: u32,
    /// Open connections from one IP address. Default 500.
    pub connections_per_ip: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            messages_per_sec: 10,
            message_burst: 30,
            rooms_per_hour: 60,
            signups_per_ip_per_hour: 20,
            logins_per_ip_per_min: 30,
            login_failures_per_username_and_ip: 5,
            login_failures_per_username: 20,
            connections_per_user: 20,
            connections_per_ip: 500,
        }
    }
}

impl LimitsConfig {
    /// Limits nobody reaches (load tests and benchmarks measure the server, not the limits).
    pub fn unlimited() -> Self {
        Self {
            messages_per_sec: u32::MAX / 2,
            message_burst: u32::MAX / 2,
            rooms_per_hour: u32::MAX / 2,
            signups_per_ip_per_hour: u32::MAX / 2,
            logins_per_ip_per_min: u32::MAX / 2,
            login_failures_per_username_and_ip: u32::MAX / 2,
            login_failures_per_username: u32::MAX / 2,
            connections_per_user: u32::MAX / 2,
            connections_per_ip: u32::MAX / 2,
        }
    }

    /// Checks that every limit is positive.
    pub fn validate(&self) -> Result<(), String> {
        let all = [
            ("messages_per_sec", self.messages_per_sec),
            ("message_burst", self.message_burst),
            ("rooms_per_hour", self.rooms_per_hour),
            ("signups_per_ip_per_hour", self.signups_per_ip_per_hour),
            ("logins_per_ip_per_min", self.logins_per_ip_per_min),
            (
                "login_failures_per_username_and_ip",
                self.login_failures_per_username_and_ip,
            ),
            (
                "login_failures_per_username",
                self.login_failures_per_username,
            ),
            ("connections_per_user", self.connections_per_user),
            ("connections_per_ip", self.connections_per_ip),
        ];
        match all.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("limits.{name} must be at least 1")),
            None => Ok(()),
        }
    }
}

/// A rate per key.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    what: &'static str,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(per: Duration, burst: u32, what: &'static str) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(per)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            what,
        }
    }

    /// `count` events per `period`, all of them available at once.
    fn per(period: Duration, count: u32, what: &'static str) -> Self {
        let count = count.max(1);
        Self::new(period / count, count, what)
    }

    fn check(&self, key: &K) -> Result<(), ChatError> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let ms = u32::try_from(wait.as_millis().max(1)).unwrap_or(u32::MAX);
            ChatError::ResourceExhausted(
                Reason::RateLimited,
                format!("too many {}; retry in {ms} ms", self.what),
                ms,
            )
        })
    }
}

/// Open connections per key.
struct Gauge<K: Hash + Eq> {
    open: Mutex<HashMap<K, u32>>,
    max: u32,
    what: &'static str,
}

impl<K: Hash + Eq + Clone> Gauge<K> {
    fn acquire(&self, key: &K) -> Result<(), ChatError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_default();
        if *n >= self.max {
            return Err(ChatError::ResourceExhausted(
                Reason::TooManyConnections,
                format!("at most {} open connections {}", self.max, self.what),
                0,
            ));
        }
        *n += 1;
        Ok(())
    }

    fn release(&self, key: &K) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(key);
            }
        }
    }
}

/// Every limit of a node.
pub struct Limits {
    messages: Bucket<UserId>,
    rooms: Bucket<UserId>,
    signups: Bucket<IpAddr>,
    logins_ip: Bucket<IpAddr>,
    /// Failed log-ins (see `guessing.rs`).
    pub(crate) guessing: Guessing,
    users: Gauge<UserId>,
    ips: Gauge<IpAddr>,
}

impl Limits {
    /// Limits from configuration.
    pub fn new(c: &LimitsConfig) -> Self {
        let hour = Duration::from_secs(3600);
        let minute = Duration::from_secs(60);
        Self {
            messages: Bucket::new(
                Duration::from_secs(1) / c.messages_per_sec.max(1),
                c.message_burst,
                "messages",
            ),
            rooms: Bucket::per(hour, c.rooms_per_hour, "rooms created"),
            signups: Bucket::per(
                hour,
                c.signups_per_ip_per_hour,
                "sign-ups from this address",
            ),
            logins_ip: Bucket::per(minute, c.logins_per_ip_per_min, "log-ins from this address"),
            guessing: Guessing::new(
                c.login_failures_per_username_and_ip,
                c.login_failures_per_username,
            ),
            users: Gauge {
                open: Mutex::default(),
                max: c.connections_per_user,
                what: "per user",
            },
            ips: Gauge {
                open: Mutex::default(),
                max: c.connections_per_ip,
                what: "per address",
            },
        }
    }

    /// A message from `user`.
    pub fn message(&self, user: UserId) -> Result<(), ChatError> {
        self.messages.check(&user)
    }

    /// A new room by `user`.
    pub fn room(&self, user: UserId) -> Result<(), ChatError> {
        self.rooms.check(&user)
    }

    /// A sign-up from `ip`.
    pub fn signup(&self, ip: IpAddr) -> Result<(), ChatError> {
        self.signups.check(&ip)
    }

    /// A log-in attempt from `ip` (if known) for `username`: how long it must wait before
    /// its password is checked, or why it is refused.
    pub fn login(&self, ip: Option<IpAddr>, username: &str) -> Result<Duration, ChatError> {
        if let Some(ip) = ip {
            self.logins_ip.check(&ip)?;
        }
        self.guessing.before_attempt(ip, username)
    }

    /// A connection of `user` opens; pair with [`Limits::user_disconnected`].
    pub fn user_connected(&self, user: UserId) -> Result<(), ChatError> {
        self.users.acquire(&user)
    }

    /// A connection of `user` closed.
    pub fn user_disconnected(&self, user: UserId) {
        self.users.release(&user);
    }

    /// A connection from `ip` opens; the guard counts it until dropped.
    pub fn ip_connected(self: &std::sync::Arc<Self>, ip: IpAddr) -> Result<IpGuard, ChatError> {
        self.ips.acquire(&ip)?;
        Ok(IpGuard {
            limits: self.clone(),
            ip,
        })
    }

    /// Forgets buckets that are full again (keeps the maps small).
    pub fn sweep(&self) {
        self.messages.limiter.retain_recent();
        self.rooms.limiter.retain_recent();
        self.signups.limiter.retain_recent();
        self.logins_ip.limiter.retain_recent();
        self.guessing.sweep();
    }
}

/// Counts one open connection from an address while alive.
pub struct IpGuard {
    limits: std::sync::Arc<Limits>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        self.limits.ips.release(&self.ip);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bursts_then_refusals_with_a_retry_time() {
        let limits = Limits::new(&LimitsConfig {
            messages_per_sec: 1,
            message_burst: 3,
            ..LimitsConfig::default()
        });
        for _ in 0..3 {
            limits.message(7).unwrap();
        }
        let refused = limits.message(7).unwrap_err();
        assert_eq!(refused.reason(), Reason::RateLimited);
        assert!(refused.retryable());
        assert!(refused.to_proto().retry_after_ms > 0);
        // Another user has a bucket of their own.
        limits.message(8).unwrap();
    }

    #[test]
    fn connection_counts_go_down_again() {
        let limits = std::sync::Arc::new(Limits::new(&LimitsConfig {
            connections_per_user: 2,
            connections_per_ip: 1,
            ..LimitsConfig::default()
        }));
        limits.user_connected(1).unwrap();
        limits.user_connected(1).unwrap();
        assert_eq!(
            limits.user_connected(1).unwrap_err().reason(),
            Reason::TooManyConnections
        );
        limits.user_disconnected(1);
        limits.user_connected(1).unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let guard = limits.ip_connected(ip).unwrap();
        assert!(limits.ip_connected(ip).is_err());
        drop(guard);
        assert!(limits.ip_connected(ip).is_ok());
    }
}
