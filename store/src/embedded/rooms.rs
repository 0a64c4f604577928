//! Rooms, direct-room pairs, members, each user's rooms and read cursors.

use std::collections::BTreeSet;

use super::{store::EmbeddedStore, tables::Tables};
use crate::{
    backend::RoomStore,
    error::{StoreError, StoreResult},
    keys,
    records::{ReadCursor, RoomId, RoomRecord, Seq, UserId},
};

/// The value of a user's room row when they muted the room.
const MUTED: u8 = 1;

/// The hidden seqs of a user's room row (after its flags byte).
fn hidden_seqs(value: &[u8]) -> StoreResult<Vec<Seq>> {
    let seqs = value.get(1..).unwrap_or_default();
    if seqs.len() % 8 != 0 {
        return Err(StoreError::Corrupt("user room settings".into()));
    }
    Ok((0..seqs.len() / 8)
        .filter_map(|i| keys::read_u64(seqs, i))
        .collect())
}

#[async_trait::async_trait]
impl RoomStore for EmbeddedStore {
    async fn create_room(&self, room: RoomRecord, members: Vec<UserId>) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            t.insert_room(&mut batch, &room, &members)?;
            t.commit(batch)
        })
        .await
    }

    async fn create_direct_room(
        &self,
        room: RoomRecord,
        a: UserId,
        b: UserId,
    ) -> StoreResult<RoomId> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let pair = keys::direct_pair(a, b);
            if let Some(existing) = t.direct.get(&pair)? {
                return keys::read_u64(&existing, 0)
                    .ok_or_else(|| StoreError::Corrupt("short direct value".into()));
            }
            let mut batch = t.db.batch();
            batch.insert(&t.direct, pair, room.id.to_be_bytes());
            let members: BTreeSet<UserId> = [a, b].into();
            t.insert_room(&mut batch, &room, &members.into_iter().collect::<Vec<_>>())?;
            t.commit(batch)?;
            Ok(room.id)
        })
        .await
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> StoreResult<Option<RoomId>> {
        self.point(|t| {
            Ok(t.direct
                .get(keys::direct_pair(a, b))?
                .and_then(|v| keys::read_u64(&v, 0)))
        })
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        self.point(|t| t.get_json(&t.rooms, &id.to_be_bytes()))
    }

    async fn members(&self, room: RoomId) -> StoreResult<Vec<UserId>> {
        self.blocking(move |t| t.second_ids(&t.members, room)).await
    }

    async fn member_joins(&self, room: RoomId) -> StoreResult<Vec<(UserId, Seq)>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.members.prefix(room.to_be_bytes()) {
                let (key, value) = kv.into_inner()?;
                let user = keys::read_u64(&key, 1)
                    .ok_or_else(|| StoreError::Corrupt("short membership key".into()))?;
                let joined = match value.len() {
                    0 => 0,
                    _ => keys::read_u64(&value, 0)
                        .ok_or_else(|| StoreError::Corrupt("short membership value".into()))?,
                };
                out.push((user, joined));
            }
            Ok(out)
        })
        .await
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: Vec<UserId>,
        read_through: ReadCursor,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            for user in users {
                // A member's row holds the seq they joined at (empty: 0, with the room).
                batch.insert(
                    &t.members,
                    keys::key_u64s([room, user]),
                    read_through.seq.to_be_bytes(),
                );
                batch.insert(&t.user_rooms, keys::key_u64s([user, room]), []);
                batch.insert(
                    &t.cursors,
                    keys::key_u64s([room, user]),
                    keys::key_u64s([read_through.seq, read_through.ordinal]),
                );
            }
            t.commit(batch)
        })
        .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        self.blocking(move |t| {
            // Against a mute being set at the same time (it must not outlive the membership).
            let _guard = t.lock_rmw();
            let mut batch = t.db.batch();
            batch.remove(&t.members, keys::key_u64s([room, user]));
            batch.remove(&t.user_rooms, keys::key_u64s([user, room]));
            batch.remove(&t.cursors, keys::key_u64s([room, user]));
            t.commit(batch)
        })
        .await
    }

    async fn set_room_muted(&self, room: RoomId, user: UserId, muted: bool) -> StoreResult<bool> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let key = keys::key_u64s([user, room]);
            let Some(value) = t.user_rooms.get(&key)? else {
                return Ok(false);
            };
            // A user's room row holds their settings for it: empty, or a flags byte ([1]
            // when muted) followed by the seqs they hid, ascending.
            let mut value = value.to_vec();
            match value.first_mut() {
                Some(flags) => *flags = u8::from(muted) * MUTED,
                None if muted => value.push(MUTED),
                None => {}
            }
            let mut batch = t.db.batch();
            batch.insert(&t.user_rooms, key, value);
            t.commit(batch)?;
            Ok(true)
        })
        .await
    }

    async fn hide_message(&self, room: RoomId, user: UserId, seq: Seq) -> StoreResult<bool> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let key = keys::key_u64s([user, room]);
            let Some(value) = t.user_rooms.get(&key)? else {
                return Ok(false);
            };
            let mut hidden = hidden_seqs(&value)?;
            if let Err(at) = hidden.binary_search(&seq) {
                hidden.insert(at, seq);
            }
            let mut out = vec![value.first().copied().unwrap_or(0)];
            for s in hidden {
                out.extend_from_slice(&s.to_be_bytes());
            }
            let mut batch = t.db.batch();
            batch.insert(&t.user_rooms, key, out);
            t.commit(batch)?;
            Ok(true)
        })
        .await
    }

    async fn hidden_messages(&self, room: RoomId, user: UserId) -> StoreResult<Vec<Seq>> {
        self.point(|t| match t.user_rooms.get(keys::key_u64s([user, room]))? {
            Some(value) => hidden_seqs(&value),
            None => Ok(Vec::new()),
        })
    }

    async fn muted_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.user_rooms.prefix(user.to_be_bytes()) {
                let (key, value) = kv.into_inner()?;
                if value.first() == Some(&MUTED) {
                    out.push(
                        keys::read_u64(&key, 1)
                            .ok_or_else(|| StoreError::Corrupt("short membership key".into()))?,
                    );
                }
            }
            Ok(out)
        })
        .await
    }

    async fn user_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.blocking(move |t| t.second_ids(&t.user_rooms, user))
            .await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        self.point(|t| Ok(t.members.contains_key(keys::key_u64s([room, user]))?))
    }

    async fn member_join(&self, room: RoomId, user: UserId) -> StoreResult<Option<Seq>> {
        self.point(|t| {
            let Some(value) = t.members.get(keys::key_u64s([room, user]))? else {
                return Ok(None);
            };
            match value.len() {
                0 => Ok(Some(0)),
                _ => keys::read_u64(&value, 0)
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt("short membership value".into())),
            }
        })
    }

    async fn read_cursors(&self, room: RoomId) -> StoreResult<Vec<(UserId, ReadCursor)>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.cursors.prefix(room.to_be_bytes()) {
                let (key, value) = kv.into_inner()?;
                let user = keys::read_u64(&key, 1)
                    .ok_or_else(|| StoreError::Corrupt("short cursor key".into()))?;
                out.push((user, Tables::decode_cursor(&value)?));
            }
            Ok(out)
        })
        .await
    }

    async fn read_cursor(&self, room: RoomId, user: UserId) -> StoreResult<ReadCursor> {
        self.point(|t| match t.cursors.get(keys::key_u64s([room, user]))? {
            Some(v) => Tables::decode_cursor(&v),
            None => Ok(ReadCursor::default()),
        })
    }
}
