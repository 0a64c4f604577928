//! Every statement the backend runs, prepared once at start-up (`{ks}` is the keyspace).

use scylla::{client::session::Session, statement::prepared::PreparedStatement};

use super::values::cql_error;
use crate::error::{StoreError, StoreResult};

/// Every prepared statement, made once at start-up.
pub(super) struct Statements {
    pub(super) user_insert: PreparedStatement,
    pub(super) user_get: PreparedStatement,
    pub(super) username_claim: PreparedStatement,
    pub(super) username_get: PreparedStatement,
    pub(super) refresh_insert: PreparedStatement,
    pub(super) refresh_get: PreparedStatement,
    pub(super) refresh_use: PreparedStatement,
    pub(super) family_revoke: PreparedStatement,
    pub(super) family_get: PreparedStatement,
    pub(super) session_put: PreparedStatement,
    pub(super) session_delete: PreparedStatement,
    pub(super) sessions_of: PreparedStatement,
    pub(super) revocation_put: PreparedStatement,
    pub(super) revocations_in: PreparedStatement,
    pub(super) user_swap: PreparedStatement,
    pub(super) room_insert: PreparedStatement,
    pub(super) room_get: PreparedStatement,
    pub(super) direct_claim: PreparedStatement,
    pub(super) direct_get: PreparedStatement,
    pub(super) member_insert: PreparedStatement,
    pub(super) member_delete: PreparedStatement,
    pub(super) member_get: PreparedStatement,
    pub(super) members_of: PreparedStatement,
    pub(super) member_joins: PreparedStatement,
    pub(super) user_room_insert: PreparedStatement,
    pub(super) user_room_delete: PreparedStatement,
    pub(super) user_rooms_of: PreparedStatement,
    pub(super) muted_insert: PreparedStatement,
    pub(super) muted_delete: PreparedStatement,
    pub(super) muted_of: PreparedStatement,
    pub(super) hidden_insert: PreparedStatement,
    pub(super) hidden_delete_all: PreparedStatement,
    pub(super) hidden_of: PreparedStatement,
    pub(super) cursor_upsert: PreparedStatement,
    pub(super) cursor_delete: PreparedStatement,
    pub(super) cursor_get: PreparedStatement,
    pub(super) cursors_of: PreparedStatement,
    pub(super) social_get: PreparedStatement,
    pub(super) social_create: PreparedStatement,
    pub(super) social_update: PreparedStatement,
    pub(super) social_delete: PreparedStatement,
    pub(super) social_index_insert: PreparedStatement,
    pub(super) social_index_delete: PreparedStatement,
    pub(super) social_index_of: PreparedStatement,
    pub(super) head_get: PreparedStatement,
    pub(super) head_create: PreparedStatement,
    pub(super) head_claim: PreparedStatement,
    pub(super) head_first_append: PreparedStatement,
    pub(super) head_append: PreparedStatement,
    pub(super) head_append_timeline: PreparedStatement,
    pub(super) head_touch: PreparedStatement,
    pub(super) bucket_insert: PreparedStatement,
    pub(super) buckets_of: PreparedStatement,
    pub(super) search_posting_insert: PreparedStatement,
    pub(super) search_posting_delete: PreparedStatement,
    pub(super) search_postings_upto: PreparedStatement,
    pub(super) search_terms_insert: PreparedStatement,
    pub(super) search_terms_delete: PreparedStatement,
    pub(super) search_terms_get: PreparedStatement,
    pub(super) search_mark_set: PreparedStatement,
    pub(super) search_mark_get: PreparedStatement,
    pub(super) search_rooms_first: PreparedStatement,
    pub(super) search_rooms_next: PreparedStatement,
    pub(super) message_insert: PreparedStatement,
    pub(super) message_get: PreparedStatement,
    pub(super) messages_before: PreparedStatement,
    pub(super) idem_insert: PreparedStatement,
    pub(super) idem_get: PreparedStatement,
    pub(super) file_insert: PreparedStatement,
    pub(super) file_get: PreparedStatement,
    pub(super) file_attach: PreparedStatement,
    pub(super) file_make_public: PreparedStatement,
    pub(super) file_set_record: PreparedStatement,
    pub(super) file_delete_unattached: PreparedStatement,
    pub(super) shares_of: PreparedStatement,
    pub(super) share_delete_all: PreparedStatement,
    pub(super) file_delete: PreparedStatement,
    pub(super) ref_insert: PreparedStatement,
    pub(super) refs_of: PreparedStatement,
    pub(super) ref_delete: PreparedStatement,
    pub(super) refs_delete_all: PreparedStatement,
    pub(super) release_insert: PreparedStatement,
    pub(super) released: PreparedStatement,
    pub(super) release_delete: PreparedStatement,
    pub(super) pending_insert: PreparedStatement,
    pub(super) pending_delete: PreparedStatement,
    pub(super) pending_before: PreparedStatement,
    pub(super) pending_day_insert: PreparedStatement,
    pub(super) pending_days_before: PreparedStatement,
    pub(super) pending_day_delete: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(s: &Session, ks: &str) -> StoreResult<Self> {
        let p = |cql: &str| {
            let cql = cql.replace("{ks}", ks);
            async move {
                let mut st = s.prepare(cql).await.map_err(cql_error)?;
                // Every statement here may be retried: writes are upserts, conditional
                // writes re-check their condition, reads are reads.
                st.set_is_idempotent(true);
                Ok::<_, StoreError>(st)
            }
        };
        Ok(Self {
            user_insert: p("INSERT INTO {ks}.users (id, record) VALUES (?, ?)").await?,
            user_get: p("SELECT record FROM {ks}.users WHERE id = ?").await?,
            username_claim: p(
                "INSERT INTO {ks}.usernames (username, user_id) VALUES (?, ?) IF NOT EXISTS",
            )
            .await?,
            username_get: p("SELECT user_id FROM {ks}.usernames WHERE username = ?").await?,
            refresh_insert: p(
                "INSERT INTO {ks}.refresh_tokens (hash, record, used) VALUES (?, ?, false) \
                 USING TTL ?",
            )
            .await?,
            refresh_get: p("SELECT record, used FROM {ks}.refresh_tokens WHERE hash = ?").await?,
            refresh_use: p("UPDATE {ks}.refresh_tokens SET used = true WHERE hash = ? IF used = false")
                .await?,
            family_revoke: p("INSERT INTO {ks}.revoked_families (family_id) VALUES (?)").await?,
            family_get: p("SELECT family_id FROM {ks}.revoked_families WHERE family_id = ?")
                .await?,
            session_put: p(
                "INSERT INTO {ks}.sessions (user_id, family_id, record) VALUES (?, ?, ?) \
                 USING TTL ?",
            )
            .await?,
            session_delete: p("DELETE FROM {ks}.sessions WHERE user_id = ? AND family_id = ?")
                .await?,
            sessions_of: p("SELECT record FROM {ks}.sessions WHERE user_id = ?").await?,
            revocation_put: p(
                "INSERT INTO {ks}.revocations (hour, family_id, user_id, until_ms) \
                 VALUES (?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            revocations_in: p(
                "SELECT family_id, user_id, until_ms FROM {ks}.revocations WHERE hour = ?",
            )
            .await?,
            user_swap: p("UPDATE {ks}.users SET record = ? WHERE id = ? IF record = ?").await?,
            room_insert: p("INSERT INTO {ks}.rooms (id, record) VALUES (?, ?)").await?,
            room_get: p("SELECT record FROM {ks}.rooms WHERE id = ?").await?,
            direct_claim: p(
                "INSERT INTO {ks}.direct_rooms (low, high, room_id) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            direct_get: p("SELECT room_id FROM {ks}.direct_rooms WHERE low = ? AND high = ?")
                .await?,
            member_insert: p(
                "INSERT INTO {ks}.members (room_id, user_id, joined_seq) VALUES (?, ?, ?)",
            )
            .await?,
            member_delete: p("DELETE FROM {ks}.members WHERE room_id = ? AND user_id = ?").await?,
            member_get: p(
                "SELECT user_id, joined_seq FROM {ks}.members WHERE room_id = ? AND user_id = ?",
            )
                .await?,
            members_of: p("SELECT user_id FROM {ks}.members WHERE room_id = ?").await?,
            member_joins: p("SELECT user_id, joined_seq FROM {ks}.members WHERE room_id = ?")
                .await?,
            user_room_insert: p("INSERT INTO {ks}.user_rooms (user_id, room_id) VALUES (?, ?)")
                .await?,
            user_room_delete: p("DELETE FROM {ks}.user_rooms WHERE user_id = ? AND room_id = ?")
                .await?,
            user_rooms_of: p("SELECT room_id FROM {ks}.user_rooms WHERE user_id = ?").await?,
            muted_insert: p("INSERT INTO {ks}.muted_rooms (user_id, room_id) VALUES (?, ?)").await?,
            muted_delete: p("DELETE FROM {ks}.muted_rooms WHERE user_id = ? AND room_id = ?").await?,
            muted_of: p("SELECT room_id FROM {ks}.muted_rooms WHERE user_id = ?").await?,
            hidden_insert: p(
                "INSERT INTO {ks}.hidden_messages (user_id, room_id, seq) VALUES (?, ?, ?)",
            )
            .await?,
            hidden_delete_all: p(
                "DELETE FROM {ks}.hidden_messages WHERE user_id = ? AND room_id = ?",
            )
            .await?,
            hidden_of: p("SELECT seq FROM {ks}.hidden_messages WHERE user_id = ? AND room_id = ?")
                .await?,
            cursor_upsert: p("INSERT INTO {ks}.cursors (room_id, user_id, seq, ordinal) VALUES (?, ?, ?, ?)")
                .await?,
            cursor_delete: p("DELETE FROM {ks}.cursors WHERE room_id = ? AND user_id = ?").await?,
            cursor_get: p("SELECT seq, ordinal FROM {ks}.cursors WHERE room_id = ? AND user_id = ?").await?,
            cursors_of: p("SELECT user_id, seq, ordinal FROM {ks}.cursors WHERE room_id = ?").await?,
            social_get: p("SELECT edge FROM {ks}.social WHERE low = ? AND high = ?").await?,
            social_create: p(
                "INSERT INTO {ks}.social (low, high, edge) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            social_update: p(
                "UPDATE {ks}.social SET edge = ? WHERE low = ? AND high = ? IF edge = ?",
            )
            .await?,
            social_delete: p("DELETE FROM {ks}.social WHERE low = ? AND high = ? IF edge = ?")
                .await?,
            social_index_insert: p(
                "INSERT INTO {ks}.social_index (user_id, other) VALUES (?, ?)",
            )
            .await?,
            social_index_delete: p(
                "DELETE FROM {ks}.social_index WHERE user_id = ? AND other = ?",
            )
            .await?,
            social_index_of: p("SELECT other FROM {ks}.social_index WHERE user_id = ?").await?,
            head_get: p(
                "SELECT epoch, last_seq, last_message, timeline FROM {ks}.room_heads WHERE room_id = ?",
            )
            .await?,
            head_create: p(
                "INSERT INTO {ks}.room_heads (room_id, epoch, last_seq) VALUES (?, 1, 0) \
                 IF NOT EXISTS",
            )
            .await?,
            head_claim: p("UPDATE {ks}.room_heads SET epoch = ? WHERE room_id = ? IF epoch = ?")
                .await?,
            head_first_append: p(
                "INSERT INTO {ks}.room_heads (room_id, epoch, last_seq, last_message, timeline) \
                 VALUES (?, 0, ?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            head_touch: p(
                "UPDATE {ks}.room_heads SET last_seq = ? WHERE room_id = ? \
                 IF epoch = ? AND last_seq = ?",
            )
            .await?,
            head_append: p(
                "UPDATE {ks}.room_heads SET last_seq = ?, last_message = ? WHERE room_id = ? \
                 IF epoch = ? AND last_seq = ?",
            )
            .await?,
            head_append_timeline: p(
                "UPDATE {ks}.room_heads SET last_seq = ?, last_message = ?, timeline = ? \
                 WHERE room_id = ? IF epoch = ? AND last_seq = ?",
            )
            .await?,
            bucket_insert: p(
                "INSERT INTO {ks}.room_buckets (room_id, bucket, first_seq) VALUES (?, ?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?,
            buckets_of: p("SELECT bucket, first_seq FROM {ks}.room_buckets WHERE room_id = ?")
                .await?,

            search_posting_insert: p(
                "INSERT INTO {ks}.search_postings (room_id, bucket, term, seq) \
                 VALUES (?, ?, ?, ?)",
            )
            .await?,
            search_posting_delete: p(
                "DELETE FROM {ks}.search_postings WHERE room_id = ? AND bucket = ? \
                 AND term = ? AND seq = ?",
            )
            .await?,
            search_postings_upto: p("SELECT seq FROM {ks}.search_postings WHERE room_id = ? \
                 AND bucket = ? AND term = ? AND seq <= ? LIMIT ?")
            .await?,
            search_terms_insert: p(
                "INSERT INTO {ks}.search_terms (room_id, bucket, seq, terms) \
                 VALUES (?, ?, ?, ?)",
            )
            .await?,
            search_terms_delete: p(
                "DELETE FROM {ks}.search_terms WHERE room_id = ? AND bucket = ? AND seq = ?",
            )
            .await?,
            search_terms_get: p(
                "SELECT terms FROM {ks}.search_terms WHERE room_id = ? AND bucket = ? AND seq = ?",
            )
            .await?,
            search_mark_set: p(
                "INSERT INTO {ks}.search_marks (room_id, seq) VALUES (?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?,
            search_mark_get: p("SELECT seq FROM {ks}.search_marks WHERE room_id = ?").await?,
            search_rooms_first: p("SELECT id FROM {ks}.rooms LIMIT ?").await?,
            search_rooms_next: p("SELECT id FROM {ks}.rooms WHERE token(id) > token(?) LIMIT ?").await?,
            message_insert: p(
                "INSERT INTO {ks}.messages (room_id, bucket, seq, record) VALUES (?, ?, ?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?,
            message_get: p(
                "SELECT record FROM {ks}.messages WHERE room_id = ? AND bucket = ? AND seq = ?",
            )
            .await?,
            messages_before: p(
                "SELECT record FROM {ks}.messages WHERE room_id = ? AND bucket = ? AND seq < ? \
                 LIMIT ?",
            )
            .await?,
            idem_insert: p(
                "INSERT INTO {ks}.idempotency (room_id, sender, client_msg_id, bucket, seq) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?",
            )
            .await?,
            idem_get: p(
                "SELECT bucket, seq FROM {ks}.idempotency WHERE room_id = ? AND sender = ? \
                 AND client_msg_id = ?",
            )
            .await?,
            file_insert: p(
                "INSERT INTO {ks}.files (id, record, attached, public) VALUES (?, ?, ?, ?)",
            )
            .await?,
            file_get: p("SELECT record, attached, public FROM {ks}.files WHERE id = ?").await?,
            file_attach: p("UPDATE {ks}.files SET attached = true WHERE id = ? IF EXISTS").await?,
            file_make_public: p(
                "UPDATE {ks}.files SET attached = true, public = true WHERE id = ? IF EXISTS",
            )
            .await?,
            file_set_record: p("UPDATE {ks}.files SET record = ? WHERE id = ? IF EXISTS").await?,
            file_delete_unattached: p("DELETE FROM {ks}.files WHERE id = ? IF attached = false")
                .await?,
            shares_of: p("SELECT room_id FROM {ks}.file_shares WHERE file_id = ?").await?,
            share_delete_all: p("DELETE FROM {ks}.file_shares WHERE file_id = ?").await?,
            file_delete: p("DELETE FROM {ks}.files WHERE id = ?").await?,
            ref_insert: p("INSERT INTO {ks}.file_refs (file_id, room_id, seq) VALUES (?, ?, ?)")
                .await?,
            refs_of: p("SELECT room_id, seq FROM {ks}.file_refs WHERE file_id = ?").await?,
            ref_delete: p(
                "DELETE FROM {ks}.file_refs WHERE file_id = ? AND room_id = ? AND seq = ?",
            )
            .await?,
            refs_delete_all: p("DELETE FROM {ks}.file_refs WHERE file_id = ?").await?,
            release_insert: p("INSERT INTO {ks}.released_files (shard, file_id) VALUES (0, ?)")
                .await?,
            released: p("SELECT file_id FROM {ks}.released_files WHERE shard = 0 LIMIT ?")
                .await?,
            release_delete: p("DELETE FROM {ks}.released_files WHERE shard = 0 AND file_id = ?")
                .await?,
            pending_insert: p(
                "INSERT INTO {ks}.pending_files (day, created_at_ms, file_id) VALUES (?, ?, ?)",
            )
            .await?,
            pending_delete: p(
                "DELETE FROM {ks}.pending_files WHERE day = ? AND created_at_ms = ? AND file_id = ?",
            )
            .await?,
            pending_before: p(
                "SELECT created_at_ms, file_id FROM {ks}.pending_files WHERE day = ? \
                 AND created_at_ms < ? LIMIT ?",
            )
            .await?,
            pending_day_insert: p("INSERT INTO {ks}.pending_days (shard, day) VALUES (0, ?)")
                .await?,
            pending_days_before: p(
                "SELECT day FROM {ks}.pending_days WHERE shard = 0 AND day <= ?",
            )
            .await?,
            pending_day_delete: p("DELETE FROM {ks}.pending_days WHERE shard = 0 AND day = ?")
                .await?,
        })
    }
}
