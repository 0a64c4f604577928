//! Flags, and their validation (a bad flag is a clear message and exit status 2).

use std::{net::IpAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

/// Load generator and benchmark reporter for the chat cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatload", version, about)]
pub struct Cli {
    /// Node base URLs; clients are spread over them round-robin.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        value_delimiter = ',',
        global = true
    )]
    pub target: Vec<String>,
    /// Allow targets outside 127.0.0.0/8 and ::1 (never aim this at a machine you do not own).
    #[arg(long, global = true)]
    pub allow_remote: bool,
    /// Frame encoding of the clients (WebSocket only; gRPC is always protobuf).
    #[arg(long, value_enum, default_value_t = CodecArg::Proto, global = true)]
    pub codec: CodecArg,
    /// How clients reach the node: a WebSocket each, or a gRPC `Session` stream each (on its
    /// own HTTP/2 connection).
    #[arg(long, value_enum, default_value_t = TransportArg::Ws, global = true)]
    pub transport: TransportArg,
    /// Prefix of the users chatload creates; a later run with the same prefix reuses them.
    #[arg(long, default_value = "chatload", global = true)]
    pub user_prefix: String,
    /// Spread client source addresses over 127.0.0.1 ..= 127.0.0.N (each gives ~28k ports).
    #[arg(long, default_value_t = 1, global = true)]
    pub source_addrs: u8,
    /// The node's process id, to report its memory (RSS from /proc).
    #[arg(long, global = true)]
    pub node_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Write latency and throughput over time as an SVG plot to this file.
    #[arg(long, global = true)]
    pub plot: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// What to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Client transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// WebSocket `/v1/ws`.
    Ws,
    /// gRPC `chat.v1.SessionService/Session`.
    Grpc,
}

/// Client frame encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    /// Binary protobuf frames (`chat.v1.proto`).
    Proto,
    /// Protobuf JSON text frames (`chat.v1.json`).
    Json,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Open N idle authenticated connections, hold them, report connect rate and memory.
    Connections {
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// New connections per second.
        #[arg(long, default_value_t = 500)]
        ramp_per_sec: u32,
        /// Seconds to hold them once all are open.
        #[arg(long, default_value_t = 5)]
        hold_secs: u64,
        /// Distinct users (connections are spread over them, like devices).
        #[arg(long, default_value_t = 20)]
        users: usize,
    },
    /// R rooms of M members, S senders at a total rate; delivery latency and order checks.
    Fanout {
        /// Rooms.
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Members per room, each with one connection that has the room open.
        #[arg(long, default_value_t = 20)]
        members: usize,
        /// Senders in total, spread over the rooms.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Message body size in bytes (at least 24: it carries the send time).
        #[arg(long, default_value_t = 100)]
        body_bytes: usize,
    },
    /// A realistic blend: active rooms where some members have the room open and read as
    /// they go, others follow through chat-list updates; senders type; idle connections.
    Mixed {
        /// Active rooms.
        #[arg(long, default_value_t = 20)]
        rooms: usize,
        /// Members per room.
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Senders in total.
        #[arg(long, default_value_t = 20)]
        senders: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Idle connections held meanwhile.
        #[arg(long, default_value_t = 500)]
        idle: usize,
        /// Share (0-100) of non-sending members that open the room.
        #[arg(long, default_value_t = 50)]
        open_percent: u8,
        /// Members with the room open mark it read every this many messages.
        #[arg(long, default_value_t = 5)]
        read_every: u64,
        /// Senders announce typing before every this many messages.
        #[arg(long, default_value_t = 3)]
        typing_every: u64,
    },
    /// Exactly-once delivery under faults: roaming senders retry each message (same
    /// client_msg_id) until acked, roaming readers recover by seq; then every reader's log is
    /// checked against the acks. Exits non-zero on any violation. scripts/chaos.sh runs it
    /// while killing nodes, restarting NATS and pausing the database.
    Verify {
        /// Rooms.
        #[arg(long, default_value_t = 4)]
        rooms: usize,
        /// Senders per room.
        #[arg(long, default_value_t = 2)]
        senders: usize,
        /// Readers per room.
        #[arg(long, default_value_t = 2)]
        readers: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 40)]
        rate: u32,
        /// Seconds of sending.
        #[arg(long, default_value_t = 30)]
        duration_secs: u64,
        /// Seconds readers (and a send in flight) may take to finish once sending stops.
        #[arg(long, default_value_t = 120)]
        drain_secs: u64,
    },
    /// Messages mixed with replies, reactions and edits in small groups, every member with
    /// the room open: every reader must see every entry once, in order, and history must
    /// show each message as the acked entries left it. Exits non-zero on any violation.
    Timeline {
        /// Rooms.
        #[arg(long, default_value_t = 4)]
        rooms: usize,
        /// Members per room (each sends and reads).
        #[arg(long, default_value_t = 5)]
        members: usize,
        /// Entries each member sends, one at a time.
        #[arg(long, default_value_t = 200)]
        entries: usize,
        /// Percent of entries that are replies.
        #[arg(long, default_value_t = 20)]
        reply_percent: u32,
        /// Percent that add or take back a reaction.
        #[arg(long, default_value_t = 30)]
        react_percent: u32,
        /// Percent that edit one of the member's messages.
        #[arg(long, default_value_t = 15)]
        edit_percent: u32,
    },
    /// Scroll back through rooms with long histories: latency per page.
    History {
        /// Rooms to fill.
        #[arg(long, default_value_t = 2)]
        rooms: usize,
        /// Messages per room (written first, pipelined; reused by later runs).
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Pages to read.
        #[arg(long, default_value_t = 500)]
        pages: usize,
        /// Messages per page (1-100).
        #[arg(long, default_value_t = 50)]
        page_size: u32,
    },
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    authority
        .rsplit_once(':')
        .map_or(Some(authority), |(h, _)| Some(h))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn positive(name: &str, v: u64) -> Result<(), String> {
    if v == 0 {
        Err(format!("{name} must be positive"))
    } else {
        Ok(())
    }
}

/// The flags `fanout` and `mixed` share.
fn traffic(
    rooms: usize,
    members: usize,
    senders: usize,
    rate: u32,
    duration_secs: u64,
) -> Result<(), String> {
    positive("--rooms", rooms as u64)?;
    positive("--members", members as u64)?;
    positive("--senders", senders as u64)?;
    positive("--rate", u64::from(rate))?;
    positive("--duration-secs", duration_secs)?;
    if senders > rooms * members {
        return Err("--senders cannot exceed rooms x members".into());
    }
    if duration_secs > 3600 {
        return Err("--duration-secs is at most 3600".into());
    }
    Ok(())
}

impl Cli {
    /// Checks every flag; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.target.is_empty() {
            return Err("--target needs at least one URL".into());
        }
        for t in &self.target {
            let host = host_of(t)
                .ok_or_else(|| format!("--target {t:?} is not an http://host:port URL"))?;
            if !self.allow_remote && !is_loopback(host) {
                return Err(format!(
                    "--target {t:?} is not a loopback address; pass --allow-remote to load a machine you own"
                ));
            }
        }
        if self.source_addrs == 0 {
            return Err("--source-addrs must be 1-255".into());
        }
        let prefix = &self.user_prefix;
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix.starts_with(|c: char| c.is_ascii_lowercase())
            || !prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err("--user-prefix must be 1-16 of a-z0-9, starting with a letter".into());
        }
        self.scenario.validate(self.source_addrs)
    }
}

/// The checks of `chatload verify`'s flags.
fn verify(
    rooms: usize,
    senders: usize,
    readers: usize,
    rate: u32,
    duration_secs: u64,
    drain_secs: u64,
) -> Result<(), String> {
    positive("--rooms", rooms as u64)?;
    positive("--senders", senders as u64)?;
    positive("--readers", readers as u64)?;
    positive("--rate", u64::from(rate))?;
    positive("--duration-secs", duration_secs)?;
    positive("--drain-secs", drain_secs)?;
    if duration_secs > 24 * 3600 {
        return Err("--duration-secs is at most 86400".into());
    }
    if u64::from(rate) > 1000 * (rooms * senders) as u64 {
        return Err("--rate is at most 1000 per sender".into());
    }
    Ok(())
}

fn connections(count: usize, ramp: u32, users: usize, source_addrs: u8) -> Result<(), String> {
    positive("--count", count as u64)?;
    positive("--ramp-per-sec", u64::from(ramp))?;
    positive("--users", users as u64)?;
    let limit = 28_000 * usize::from(source_addrs);
    if count > limit {
        return Err(format!(
            "--count {count} needs more source ports: raise --source-addrs (~28k each)"
        ));
    }
    Ok(())
}

fn history(rooms: usize, messages: usize, pages: usize, page_size: u32) -> Result<(), String> {
    positive("--rooms", rooms as u64)?;
    positive("--messages", messages as u64)?;
    positive("--pages", pages as u64)?;
    if !(1..=100).contains(&page_size) {
        return Err("--page-size must be 1-100".into());
    }
    Ok(())
}

fn timeline(rooms: usize, members: usize, entries: usize, mix: u32) -> Result<(), String> {
    positive("--rooms", rooms as u64)?;
    positive("--entries", entries as u64)?;
    if members < 2 {
        return Err("--members must be at least 2".into());
    }
    if mix > 100 {
        return Err("--reply-percent + --react-percent + --edit-percent must be 0-100".into());
    }
    Ok(())
}

impl Scenario {
    /// Checks the scenario's flags; `source_addrs` bounds how many sockets fit.
    fn validate(&self, source_addrs: u8) -> Result<(), String> {
        match self {
            Scenario::Connections {
                count,
                ramp_per_sec,
                hold_secs: _,
                users,
            } => connections(*count, *ramp_per_sec, *users, source_addrs)?,
            Scenario::Fanout {
                rooms,
                members,
                senders,
                rate,
                duration_secs,
                body_bytes,
            } => {
                traffic(*rooms, *members, *senders, *rate, *duration_secs)?;
                if *body_bytes < 24 || *body_bytes > 4096 {
                    return Err("--body-bytes must be 24-4096".into());
                }
            }
            Scenario::Mixed {
                rooms,
                members,
                senders,
                rate,
                duration_secs,
                idle,
                open_percent,
                ..
            } => {
                traffic(*rooms, *members, *senders, *rate, *duration_secs)?;
                if *open_percent > 100 {
                    return Err("--open-percent must be 0-100".into());
                }
                if *idle > 28_000 * usize::from(source_addrs) {
                    return Err("--idle needs more source ports: raise --source-addrs".into());
                }
            }
            Scenario::Verify {
                rooms,
                senders,
                readers,
                rate,
                duration_secs,
                drain_secs,
            } => verify(
                *rooms,
                *senders,
                *readers,
                *rate,
                *duration_secs,
                *drain_secs,
            )?,
            Scenario::Timeline {
                rooms,
                members,
                entries,
                reply_percent,
                react_percent,
                edit_percent,
            } => timeline(
                *rooms,
                *members,
                *entries,
                reply_percent + react_percent + edit_percent,
            )?,
            Scenario::History {
                rooms,
                messages,
                pages,
                page_size,
            } => history(*rooms, *messages, *pages, *page_size)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<(), String> {
        let mut all = vec!["chatload"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn flags_are_validated() {
        assert!(cli(&["fanout"]).is_ok());
        assert!(cli(&["mixed"]).is_ok());
        assert!(cli(&["mixed", "--open-percent", "101"]).is_err());
        assert!(cli(&["--target", "http://localhost:9000", "history"]).is_ok());
        assert!(cli(&["--target", "http://[::1]:9000", "history"]).is_ok());
        assert!(
            cli(&["--target", "http://10.0.0.1:8080", "fanout"])
                .unwrap_err()
                .contains("loopback")
        );
        assert!(
            cli(&[
                "--target",
                "http://10.0.0.1:8080",
                "--allow-remote",
                "fanout"
            ])
            .is_ok()
        );
        assert!(cli(&["--target", "ftp://x", "fanout"]).is_err());
        assert!(cli(&["fanout", "--rate", "0"]).is_err());
        assert!(
            cli(&[
                "fanout",
                "--senders",
                "1000",
                "--rooms",
                "1",
                "--members",
                "2"
            ])
            .is_err()
        );
        assert!(cli(&["history", "--page-size", "101"]).is_err());
        assert!(cli(&["timeline"]).is_ok());
        assert!(cli(&["timeline", "--members", "1"]).is_err());
        assert!(cli(&["timeline", "--react-percent", "90", "--edit-percent", "20"]).is_err());
        assert!(cli(&["verify", "--duration-secs", "600"]).is_ok());
        assert!(cli(&["verify", "--readers", "0"]).is_err());
        assert!(cli(&["connections", "--count", "60000"]).is_err());
        assert!(cli(&["--user-prefix", "Bad!", "fanout"]).is_err());
    }
}
