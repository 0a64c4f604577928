//! Rooms, direct-room pairs (claimed by a lightweight transaction), members, each user's
//! rooms and read cursors.

use scylla::statement::prepared::PreparedStatement;

use super::{
    store::{CqlStore, Inner},
    values::{bigint, corrupt, first, from_cql, json, lwt, pair, parse, rows, to_cql},
};
use crate::{
    backend::RoomStore,
    error::{StoreError, StoreResult},
    records::{ReadCursor, RoomId, RoomKind, RoomRecord, Seq, UserId},
};

impl Inner {
    pub(super) async fn insert_room(
        &self,
        room: &RoomRecord,
        members: &[UserId],
    ) -> StoreResult<()> {
        self.exec(&self.st.room_insert, (to_cql(room.id), json(room)?))
            .await?;
        self.add_members(room.id, members, None).await
    }

    pub(super) async fn add_members(
        &self,
        room: RoomId,
        users: &[UserId],
        read_through: Option<ReadCursor>,
    ) -> StoreResult<()> {
        let writes = users.iter().map(|&u| async move {
            let joined = read_through.map_or(0, |c| c.seq);
            let values = (to_cql(room), to_cql(u), to_cql(joined));
            self.exec(&self.st.member_insert, values).await?;
            self.exec(&self.st.user_room_insert, (to_cql(u), to_cql(room)))
                .await?;
            if let Some(cursor) = read_through {
                self.write_cursor(room, u, cursor).await?;
            }
            Ok::<_, StoreError>(())
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// Stores one read cursor.
    pub(super) async fn write_cursor(
        &self,
        room: RoomId,
        user: UserId,
        cursor: ReadCursor,
    ) -> StoreResult<()> {
        let values = (
            to_cql(room),
            to_cql(user),
            to_cql(cursor.seq),
            to_cql(cursor.ordinal),
        );
        self.exec(&self.st.cursor_upsert, values).await?;
        Ok(())
    }

    pub(super) async fn ids(&self, st: &PreparedStatement, key: u64) -> StoreResult<Vec<u64>> {
        let rows: Vec<(i64,)> = rows(self.exec(st, (to_cql(key),)).await?)?;
        let mut ids: Vec<u64> = rows.into_iter().map(|(v,)| from_cql(v)).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

#[async_trait::async_trait]
impl RoomStore for CqlStore {
    async fn create_room(&self, room: RoomRecord, members: Vec<UserId>) -> StoreResult<()> {
        self.inner.insert_room(&room, &members).await
    }

    async fn create_direct_room(
        &self,
        room: RoomRecord,
        a: UserId,
        b: UserId,
    ) -> StoreResult<RoomId> {
        let i = &self.inner;
        let (low, high) = pair(a, b);
        let (applied, current) = lwt(i
            .exec(&i.st.direct_claim, (low, high, to_cql(room.id)))
            .await?)?;
        let winner = if applied {
            room.id
        } else {
            bigint(&current, "room_id")
                .map(from_cql)
                .ok_or_else(|| corrupt("direct room without id"))?
        };
        // The pair row is the commit point; the room itself is (re)written until it exists,
        // which also repairs a creator that crashed in between.
        let existing: Option<(String,)> = first(i.exec(&i.st.room_get, (to_cql(winner),)).await?)?;
        if existing.is_none() {
            let record = RoomRecord {
                id: winner,
                kind: RoomKind::Direct,
                ..room
            };
            let members = if a == b {
                vec![a]
            } else {
                vec![a.min(b), a.max(b)]
            };
            i.insert_room(&record, &members).await?;
        }
        Ok(winner)
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> StoreResult<Option<RoomId>> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(i.exec(&i.st.direct_get, pair(a, b)).await?)?;
        Ok(row.map(|(id,)| from_cql(id)))
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        let i = &self.inner;
        let row: Option<(String,)> = first(i.exec(&i.st.room_get, (to_cql(id),)).await?)?;
        row.map(|(r,)| parse(&r)).transpose()
    }

    async fn members(&self, room: RoomId) -> StoreResult<Vec<UserId>> {
        self.inner.ids(&self.inner.st.members_of, room).await
    }

    async fn member_joins(&self, room: RoomId) -> StoreResult<Vec<(UserId, Seq)>> {
        let i = &self.inner;
        let rows: Vec<(i64, Option<i64>)> =
            rows(i.exec(&i.st.member_joins, (to_cql(room),)).await?)?;
        let mut joins: Vec<(UserId, Seq)> = rows
            .into_iter()
            .map(|(u, seq)| (from_cql(u), seq.map_or(0, from_cql)))
            .collect();
        joins.sort_unstable();
        Ok(joins)
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: Vec<UserId>,
        read_through: ReadCursor,
    ) -> StoreResult<()> {
        self.inner
            .add_members(room, &users, Some(read_through))
            .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        let i = &self.inner;
        let key = (to_cql(room), to_cql(user));
        i.exec(&i.st.member_delete, key).await?;
        i.exec(&i.st.user_room_delete, (to_cql(user), to_cql(room)))
            .await?;
        i.exec(&i.st.cursor_delete, key).await?;
        i.exec(&i.st.muted_delete, (to_cql(user), to_cql(room)))
            .await?;
        i.exec(&i.st.hidden_delete_all, (to_cql(user), to_cql(room)))
            .await?;
        Ok(())
    }

    async fn hide_message(&self, room: RoomId, user: UserId, seq: Seq) -> StoreResult<bool> {
        // Checked first, like a mute: a hide racing a leave may leave a stale row behind,
        // never a membership.
        if !self.is_member(room, user).await? {
            return Ok(false);
        }
        let i = &self.inner;
        let values = (to_cql(user), to_cql(room), to_cql(seq));
        i.exec(&i.st.hidden_insert, values).await?;
        Ok(true)
    }

    async fn hidden_messages(&self, room: RoomId, user: UserId) -> StoreResult<Vec<Seq>> {
        let i = &self.inner;
        let found: Vec<(i64,)> = rows(
            i.exec(&i.st.hidden_of, (to_cql(user), to_cql(room)))
                .await?,
        )?;
        Ok(found.into_iter().map(|(s,)| from_cql(s)).collect())
    }

    async fn set_room_muted(&self, room: RoomId, user: UserId, muted: bool) -> StoreResult<bool> {
        if !self.is_member(room, user).await? {
            return Ok(false);
        }
        let i = &self.inner;
        let st = if muted {
            &i.st.muted_insert
        } else {
            &i.st.muted_delete
        };
        i.exec(st, (to_cql(user), to_cql(room))).await?;
        Ok(true)
    }

    async fn muted_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.inner.ids(&self.inner.st.muted_of, user).await
    }

    async fn user_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.inner.ids(&self.inner.st.user_rooms_of, user).await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(self.member_join(room, user).await?.is_some())
    }

    async fn member_join(&self, room: RoomId, user: UserId) -> StoreResult<Option<Seq>> {
        let i = &self.inner;
        let row: Option<(i64, Option<i64>)> = first(
            i.exec(&i.st.member_get, (to_cql(room), to_cql(user)))
                .await?,
        )?;
        Ok(row.map(|(_, seq)| seq.map_or(0, from_cql)))
    }

    async fn read_cursors(&self, room: RoomId) -> StoreResult<Vec<(UserId, ReadCursor)>> {
        let i = &self.inner;
        let found: Vec<(i64, i64, Option<i64>)> =
            rows(i.exec(&i.st.cursors_of, (to_cql(room),)).await?)?;
        let mut out: Vec<(UserId, ReadCursor)> = found
            .into_iter()
            .map(|(u, s, o)| (from_cql(u), cursor_of(s, o)))
            .collect();
        out.sort_unstable_by_key(|(u, _)| *u);
        Ok(out)
    }

    async fn read_cursor(&self, room: RoomId, user: UserId) -> StoreResult<ReadCursor> {
        let i = &self.inner;
        let row: Option<(i64, Option<i64>)> = first(
            i.exec(&i.st.cursor_get, (to_cql(room), to_cql(user)))
                .await?,
        )?;
        Ok(row.map_or_else(ReadCursor::default, |(s, o)| cursor_of(s, o)))
    }
}

/// A stored cursor; one written before ordinals existed counts every entry (all were
/// messages then).
fn cursor_of(seq: i64, ordinal: Option<i64>) -> ReadCursor {
    match ordinal {
        Some(o) => ReadCursor {
            seq: from_cql(seq),
            ordinal: from_cql(o),
        },
        None => ReadCursor::legacy(from_cql(seq)),
    }
}
