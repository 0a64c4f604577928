//! Relationships between pairs of users: one row per unordered pair, changed only by
//! compare-and-set, with a per-user index.

use super::{
    store::CqlStore,
    values::{first, json, lwt, pair, parse, to_cql},
};
use crate::{
    backend::SocialStore,
    error::{StoreError, StoreResult},
    records::{SocialEdge, UserId},
};

#[async_trait::async_trait]
impl SocialStore for CqlStore {
    async fn social_edge(&self, a: UserId, b: UserId) -> StoreResult<SocialEdge> {
        let i = &self.inner;
        let row: Option<(String,)> = first(i.exec(&i.st.social_get, pair(a, b)).await?)?;
        Ok(row.map(|(e,)| parse(&e)).transpose()?.unwrap_or_default())
    }

    async fn set_social_edge(
        &self,
        a: UserId,
        b: UserId,
        expected: SocialEdge,
        new: SocialEdge,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let (low, high) = pair(a, b);
        let conflict = StoreError::Conflict {
            expected: 0,
            found: 1,
        };
        let applied = match (expected.is_empty(), new.is_empty()) {
            (true, true) => return Ok(()),
            (true, false) => {
                lwt(i
                    .exec(&i.st.social_create, (low, high, json(&new)?))
                    .await?)?
                .0
            }
            (false, false) => {
                lwt(i
                    .exec(
                        &i.st.social_update,
                        (json(&new)?, low, high, json(&expected)?),
                    )
                    .await?)?
                .0
            }
            (false, true) => {
                lwt(i
                    .exec(&i.st.social_delete, (low, high, json(&expected)?))
                    .await?)?
                .0
            }
        };
        if !applied {
            return Err(conflict);
        }
        // The index only says where to look; a stale entry finds an empty edge and is
        // skipped.
        for (user, other) in [(a, b), (b, a)] {
            let key = (to_cql(user), to_cql(other));
            if new.is_empty() {
                i.exec(&i.st.social_index_delete, key).await?;
            } else {
                i.exec(&i.st.social_index_insert, key).await?;
            }
        }
        Ok(())
    }

    async fn social_edges(&self, user: UserId) -> StoreResult<Vec<(UserId, SocialEdge)>> {
        let others = self.inner.ids(&self.inner.st.social_index_of, user).await?;
        let mut out = Vec::new();
        for other in others {
            let edge = self.social_edge(user, other).await?;
            if !edge.is_empty() {
                out.push((other, edge));
            }
        }
        Ok(out)
    }
}
