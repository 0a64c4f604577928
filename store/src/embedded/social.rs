//! Relationships between pairs of users: one record per unordered pair, changed only by
//! compare-and-set, with a per-user index.

use super::store::EmbeddedStore;
use crate::{
    backend::SocialStore,
    error::{StoreError, StoreResult},
    keys,
    records::{SocialEdge, UserId},
};

#[async_trait::async_trait]
impl SocialStore for EmbeddedStore {
    async fn social_edge(&self, a: UserId, b: UserId) -> StoreResult<SocialEdge> {
        self.point(|t| {
            Ok(t.get_json(&t.social, &keys::direct_pair(a, b))?
                .unwrap_or_default())
        })
    }

    async fn set_social_edge(
        &self,
        a: UserId,
        b: UserId,
        expected: SocialEdge,
        new: SocialEdge,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let pair = keys::direct_pair(a, b);
            let current: SocialEdge = t.get_json(&t.social, &pair)?.unwrap_or_default();
            if current != expected {
                return Err(StoreError::Conflict {
                    expected: 0,
                    found: 1,
                });
            }
            let mut batch = t.db.batch();
            if new.is_empty() {
                batch.remove(&t.social, pair);
                batch.remove(&t.social_index, keys::key_u64s([a, b]));
                batch.remove(&t.social_index, keys::key_u64s([b, a]));
            } else {
                batch.insert(&t.social, pair, serde_json::to_vec(&new)?);
                batch.insert(&t.social_index, keys::key_u64s([a, b]), []);
                batch.insert(&t.social_index, keys::key_u64s([b, a]), []);
            }
            t.commit(batch)
        })
        .await
    }

    async fn social_edges(&self, user: UserId) -> StoreResult<Vec<(UserId, SocialEdge)>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for other in t.second_ids(&t.social_index, user)? {
                if let Some(edge) = t.get_json(&t.social, &keys::direct_pair(user, other))? {
                    out.push((other, edge));
                }
            }
            Ok(out)
        })
        .await
    }
}
