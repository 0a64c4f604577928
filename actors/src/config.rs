//! The messenger's tunable rules and limits. The node embeds this in its layered config.

use serde::{Deserialize, Serialize};

/// Limits and timings of the messenger. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Most members a room may have, creator included. Default 1000.
    pub max_room_members: usize,
    /// Largest message body in bytes of UTF-8. Default 4096.
    pub max_message_bytes: usize,
    /// Longest group room name in characters. Default 100.
    pub max_room_name_chars: usize,
    /// Most messages one history page returns. Default 100.
    pub max_history_page: usize,
    /// Messages a room actor keeps in memory to serve recent history. Default 256.
    pub recent_cache: usize,
    /// Idempotency keys a room actor remembers in memory before asking the store. Default 4096.
    pub idempotency_cache: usize,
    /// Most messages a room submits to the store in one append. Default 512.
    pub max_append_batch: usize,
    /// A room actor with no activity for this long stops (it restarts on demand). Default 300.
    pub room_idle_secs: u64,
    /// A user session lingers this long after its last connection closes. Default 30.
    pub user_session_grace_secs: u64,
    /// A socket must authenticate within this many seconds of opening. Default 10.
    pub auth_timeout_secs: u64,
    /// An authenticated connection with nothing in flight for this long releases its actor
    /// until its next frame (events still flow). Default 30.
    pub connection_idle_secs: u64,
    /// Frames a connection may have queued for its client before it is cut off; at least
    /// `max_append_batch + max_inflight_per_connection`. Default 1024.
    pub outbound_queue: usize,
    /// Commands a connection may have in flight before its reader waits. Default 128.
    pub max_inflight_per_connection: usize,
    /// Timeout for one call between actors, in ms. Default 5000.
    pub call_timeout_ms: u64,
    /// Most rooms one room-list reply holds. Default 500.
    pub max_room_list: usize,
    /// Most rooms a user may be a member of at once. Default 1000.
    pub max_rooms_per_user: usize,
    /// Most relationships (friends, pending requests either way, blocks) a user may have. A
    /// request needs both users under it; blocking a stranger is allowed up to twice it, so a
    /// user whose list is full can still block. Default 5000.
    pub max_contacts_per_user: usize,
    /// Most friend requests a user may have sent and still pending (slows request spam; they
    /// also count as contacts). Default 100.
    pub max_pending_requests_per_user: usize,
    /// How long after sending its sender may edit a message, in seconds. Default 86400.
    pub edit_window_secs: u64,
    /// How long after sending its sender may delete a message for everyone ("unsend"), in
    /// seconds; a group's owner may delete any message at any time. Default 300.
    pub unsend_window_secs: u64,
    /// Earlier versions an edited message keeps (the oldest are dropped). Default 10.
    pub max_edit_versions: usize,
    /// Distinct emoji one message may carry as reactions. Default 20.
    pub max_reactions_per_message: usize,
    /// Reactions (distinct emoji) one user may put on one message. Default 3.
    pub max_reactions_per_user: usize,
    /// Mentions (of members, or `@all`) one message may carry. Default 50.
    pub max_mentions_per_message: usize,
    /// Entries one member may hide from their own view of one room ("delete for me").
    /// Default 1000.
    pub max_hidden_per_room: usize,
    /// Messages one room may have pinned at once. Default 50.
    pub max_pins_per_room: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_room_members: 1000,
            max_message_bytes: 4096,
            max_room_name_chars: 100,
            max_history_page: 100,
            recent_cache: 256,
            idempotency_cache: 4096,
            max_append_batch: 512,
            room_idle_secs: 300,
            user_session_grace_secs: 30,
            auth_timeout_secs: 10,
            connection_idle_secs: 30,
            outbound_queue: 1024,
            max_inflight_per_connection: 128,
            call_timeout_ms: 5000,
            max_room_list: 500,
            max_rooms_per_user: 1000,
            max_contacts_per_user: 5000,
            max_pending_requests_per_user: 100,
            edit_window_secs: 86_400,
            unsend_window_secs: 300,
            max_edit_versions: 10,
            max_reactions_per_message: 20,
            max_reactions_per_user: 3,
            max_mentions_per_message: 50,
            max_hidden_per_room: 1000,
            max_pins_per_room: 50,
        }
    }
}

impl ChatConfig {
    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_room_members", self.max_room_members),
            ("max_message_bytes", self.max_message_bytes),
            ("max_room_name_chars", self.max_room_name_chars),
            ("max_history_page", self.max_history_page),
            ("recent_cache", self.recent_cache),
            ("idempotency_cache", self.idempotency_cache),
            ("max_append_batch", self.max_append_batch),
            ("outbound_queue", self.outbound_queue),
            (
                "max_inflight_per_connection",
                self.max_inflight_per_connection,
            ),
            ("max_room_list", self.max_room_list),
            ("max_reactions_per_message", self.max_reactions_per_message),
            ("max_reactions_per_user", self.max_reactions_per_user),
            ("max_mentions_per_message", self.max_mentions_per_message),
            ("max_hidden_per_room", self.max_hidden_per_room),
            ("max_pins_per_room", self.max_pins_per_room),
            ("max_rooms_per_user", self.max_rooms_per_user),
            ("max_contacts_per_user", self.max_contacts_per_user),
            (
                "max_pending_requests_per_user",
                self.max_pending_requests_per_user,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("chat.{name} must be at least 1"));
            }
        }
        if self.max_room_members < 2 {
            return Err("chat.max_room_members must be at least 2".into());
        }
        // One store batch publishes up to max_append_batch events at once, and a connection
        // can have max_inflight_per_connection replies due: a queue smaller than both would
        // cut off clients that read perfectly well.
        if self.outbound_queue < self.max_append_batch + self.max_inflight_per_connection {
            return Err(
                "chat.outbound_queue must be at least chat.max_append_batch + chat.max_inflight_per_connection"
                    .into(),
            );
        }
        if self.call_timeout_ms == 0
            || self.auth_timeout_secs == 0
            || self.connection_idle_secs == 0
        {
            return Err("chat.call_timeout_ms and chat.auth_timeout_secs must be positive".into());
        }
        Ok(())
    }
}

/// Limits and timings of file transfer. Where the bytes live is the node's choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest upload in bytes. Default 104857600 (100 MiB).
    pub max_file_bytes: u64,
    /// Most files one message carries. Default 10.
    pub max_attachments: usize,
    /// Uploads received at once; more wait their turn (each holds up to 5 MiB). Default 16.
    pub max_concurrent_uploads: usize,
    /// An upload never attached to a message or profile is deleted after this long.
    /// Default 86400 (a day).
    pub orphan_ttl_secs: u64,
    /// How often orphans are looked for. Default 300.
    pub orphan_sweep_secs: u64,
    /// Thumbnails fit in a square of this many pixels. Default 320.
    pub thumbnail_px: u32,
    /// Images larger than this (in bytes) get no thumbnail. Default 33554432 (32 MiB).
    pub max_thumbnail_source_bytes: u64,
    /// Images with more pixels than this get no thumbnail (decoding bomb guard).
    /// Default 50000000.
    pub max_image_pixels: u64,
    /// How long a signed file URL (`get_file_url`) stays valid, in seconds. Default 3600.
    pub url_ttl_secs: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 * 1024 * 1024,
            max_attachments: 10,
            max_concurrent_uploads: 16,
            orphan_ttl_secs: 24 * 3600,
            orphan_sweep_secs: 300,
            thumbnail_px: 320,
            max_thumbnail_source_bytes: 32 * 1024 * 1024,
            max_image_pixels: 50_000_000,
            url_ttl_secs: 3600,
        }
    }
}

impl FilesConfig {
    /// Checks that the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_file_bytes == 0
            || self.max_attachments == 0
            || self.max_concurrent_uploads == 0
            || self.orphan_sweep_secs == 0
            || self.thumbnail_px == 0
            || self.url_ttl_secs == 0
        {
            return Err("files: sizes, counts and the sweep interval must be positive".into());
        }
        Ok(())
    }
}

/// `[bus]`: the in-process bus (single node) or NATS (cluster).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `local` (default) or `nats`.
    pub backend: BusBackend,
    /// NATS settings (backend `nats`).
    pub nats: chat_cluster::NatsConfig,
}

/// Which bus carries events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// In-process: one node.
    #[default]
    Local,
    /// NATS: every node of a cluster.
    Nats,
}
