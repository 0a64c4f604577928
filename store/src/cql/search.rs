//! User search by username prefix with every partition bounded: a prefix tree whose nodes
//! split when they fill up.
//!
//! A username's row lives in the partition of its *leaf*: the longest prefix of it that is a
//! node of the tree and not split. The tree starts as one leaf, the root `""`. When a leaf
//! holds more than `split_at` rows it splits: it is marked split (for good), and its rows move
//! one character down, to the leaves named by their next character, which split in turn when
//! they fill. A split node keeps only the username equal to its own name, so no partition
//! holds much more than `split_at` rows whatever the number of users.
//!
//! `username_nodes` lists each node's children (partitioned by parent, so bounded by the
//! alphabet) with a flag for the split ones; search walks them in order.
//!
//! Concurrency needs no transaction. A node is marked split *before* its rows are read for
//! moving; a writer re-reads the flag *after* writing its row and moves the row down itself
//! if the node split meanwhile. So every row written to a node that split is moved by one of
//! the two (both is harmless: moves copy first, then delete). Rows caught mid-move sit in a
//! split node for a moment; search reads a split node's own rows too, de-duplicates, and moves
//! any such straggler it meets (a crashed splitter leaves some behind).

use std::collections::{BTreeMap, HashSet};

use futures::{TryStreamExt, future::BoxFuture};
use scylla::{client::session::Session, statement::prepared::PreparedStatement};

use super::values::{cql_error, first, from_cql, rows, to_cql};
use crate::{error::StoreResult, records::UserId};

/// Rows a leaf holds before it splits.
pub const SPLIT_AT: usize = 2_000;

/// More remembered split nodes than this and the memo starts over.
const MAX_KNOWN_SPLIT: usize = 100_000;

/// How many times a placement follows a node that keeps splitting under it.
const MAX_DESCENTS: usize = 64;

/// The username tree's statements and a memo of nodes known to be split (a split is final).
pub(super) struct UsernameTree {
    row_insert: PreparedStatement,
    row_delete: PreparedStatement,
    rows_of: PreparedStatement,
    rows_from: PreparedStatement,
    rows_after: PreparedStatement,
    count_of: PreparedStatement,
    node_register: PreparedStatement,
    node_split: PreparedStatement,
    node_get: PreparedStatement,
    children_of: PreparedStatement,
    split_at: usize,
    known_split: std::sync::Mutex<HashSet<String>>,
}

impl UsernameTree {
    /// Prepares the statements (the tables exist from migration 2 on).
    pub(super) async fn prepare(s: &Session, ks: &str, split_at: usize) -> StoreResult<Self> {
        let p = |cql: &str| {
            let cql = cql.replace("{ks}", ks);
            async move {
                let mut st = s.prepare(cql).await.map_err(cql_error)?;
                st.set_is_idempotent(true);
                Ok::<_, crate::error::StoreError>(st)
            }
        };
        Ok(Self {
            row_insert: p(
                "INSERT INTO {ks}.username_tree (node, username, user_id) VALUES (?, ?, ?)",
            )
            .await?,
            row_delete: p("DELETE FROM {ks}.username_tree WHERE node = ? AND username = ?").await?,
            rows_of: p("SELECT username, user_id FROM {ks}.username_tree WHERE node = ?").await?,
            rows_from: p(
                "SELECT username, user_id FROM {ks}.username_tree WHERE node = ? \
                 AND username >= ? AND username < ? LIMIT ?",
            )
            .await?,
            rows_after: p(
                "SELECT username, user_id FROM {ks}.username_tree WHERE node = ? \
                 AND username > ? AND username < ? LIMIT ?",
            )
            .await?,
            count_of: p("SELECT COUNT(*) FROM {ks}.username_tree WHERE node = ?").await?,
            node_register: p("INSERT INTO {ks}.username_nodes (parent, node) VALUES (?, ?)")
                .await?,
            node_split: p(
                "UPDATE {ks}.username_nodes SET split = true WHERE parent = ? AND node = ?",
            )
            .await?,
            node_get: p("SELECT split FROM {ks}.username_nodes WHERE parent = ? AND node = ?")
                .await?,
            children_of: p("SELECT node FROM {ks}.username_nodes WHERE parent = ?").await?,
            split_at: split_at.max(1),
            known_split: std::sync::Mutex::new(HashSet::new()),
        })
    }

    /// Adds `username` to the tree.
    pub(super) async fn insert(&self, s: &Session, username: &str, id: UserId) -> StoreResult<()> {
        self.place(s, username, to_cql(id), None).await
    }

    /// The usernames starting with `prefix` in order, after `after` (exclusive) when it is not
    /// before `prefix`, at most `limit`, with their user ids.
    pub(super) async fn search(
        &self,
        s: &Session,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<(String, UserId)>> {
        if prefix.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let range = Range {
            start: if after >= prefix { after } else { prefix }.to_owned(),
            inclusive: after < prefix,
            upper: format!("{prefix}\u{10FFFF}"),
        };
        // Down to the deepest node whose subtree holds every match.
        let want = prefix.chars().count();
        let mut node = String::new();
        while node.chars().count() < want && self.is_split(s, &node).await? {
            node = chars(prefix, node.chars().count() + 1);
        }
        let mut found = BTreeMap::new();
        self.collect(s, node, &range, limit, &mut found).await?;
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(name, id)| (name, from_cql(id)))
            .collect())
    }

    /// Puts a row for `username` in its leaf; `moving_from` is a split node holding a row for
    /// it that goes once the new one is written.
    async fn place(
        &self,
        s: &Session,
        username: &str,
        id: i64,
        mut moving_from: Option<String>,
    ) -> StoreResult<()> {
        let len = username.chars().count();
        for _ in 0..MAX_DESCENTS {
            let leaf = self.leaf_of(s, username).await?;
            if !leaf.is_empty() {
                exec(s, &self.node_register, (key(&parent_of(&leaf)), key(&leaf))).await?;
            }
            exec(s, &self.row_insert, (key(&leaf), username, id)).await?;
            if let Some(old) = moving_from.take()
                && old != leaf
            {
                exec(s, &self.row_delete, (key(&old), username)).await?;
            }
            // The leaf may have split between the walk and the write: then its splitter may
            // have read its rows before this one landed, and moving it is this writer's job.
            if leaf.chars().count() < len && self.is_split(s, &leaf).await? {
                moving_from = Some(leaf);
                continue;
            }
            return self.split_if_full(s, &leaf).await;
        }
        Err(crate::error::StoreError::Unavailable(format!(
            "username index: {username} could not settle"
        )))
    }

    /// The node where `username`'s row belongs now.
    async fn leaf_of(&self, s: &Session, username: &str) -> StoreResult<String> {
        let len = username.chars().count();
        let mut node = String::new();
        while node.chars().count() < len && self.is_split(s, &node).await? {
            node = chars(username, node.chars().count() + 1);
        }
        Ok(node)
    }

    async fn split_if_full(&self, s: &Session, node: &str) -> StoreResult<()> {
        let count: Option<(i64,)> = first(exec(s, &self.count_of, (key(node),)).await?)?;
        let count = count.map_or(0, |(n,)| usize::try_from(n).unwrap_or(usize::MAX));
        if count <= self.split_at {
            return Ok(());
        }
        // Marked first, read second: see the module doc.
        exec(s, &self.node_split, (key(&parent_of(node)), key(node))).await?;
        self.remember_split(node);
        tracing::debug!(node, rows = count, "username index node splits");
        self.move_down(s, node).await
    }

    /// Moves every row of the split `node` but its own name's down to its leaf.
    async fn move_down(&self, s: &Session, node: &str) -> StoreResult<()> {
        let depth = node.chars().count();
        let mut pages = s
            .execute_iter(self.rows_of.clone(), (key(node),))
            .await
            .map_err(cql_error)?
            .rows_stream::<(String, i64)>()
            .map_err(cql_error)?;
        let mut moving = Vec::new();
        while let Some((username, id)) = pages.try_next().await.map_err(cql_error)? {
            if username.chars().count() > depth {
                moving.push((username, id));
            }
        }
        for (username, id) in moving {
            Box::pin(self.place(s, &username, id, Some(node.to_owned()))).await?;
        }
        Ok(())
    }

    /// Gathers into `found` the first `limit` usernames of `node`'s subtree within `range`.
    fn collect<'a>(
        &'a self,
        s: &'a Session,
        node: String,
        range: &'a Range,
        limit: usize,
        found: &'a mut BTreeMap<String, i64>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let own = self.rows_in(s, &node, range, limit).await?;
            if !self.is_split(s, &node).await? {
                found.extend(own);
                return Ok(());
            }
            // A split node's own rows: its own name, or stragglers caught mid-move.
            let depth = node.chars().count();
            for (username, id) in own {
                if username.chars().count() > depth {
                    self.place(s, &username, id, Some(node.clone())).await?;
                }
                found.insert(username, id);
            }
            let children: Vec<(String,)> = rows(exec(s, &self.children_of, (key(&node),)).await?)?;
            let mut from_children = BTreeMap::new();
            for (child_key,) in children {
                let child = node_of(&child_key);
                // The root is listed under itself.
                if child == node {
                    continue;
                }
                // Skip subtrees wholly before the range start.
                if child < chars(&range.start, child.chars().count()) {
                    continue;
                }
                let wanted = limit - from_children.len();
                self.collect(s, child, range, wanted, &mut from_children)
                    .await?;
                if from_children.len() >= limit {
                    break;
                }
            }
            found.extend(from_children);
            Ok(())
        })
    }

    async fn rows_in(
        &self,
        s: &Session,
        node: &str,
        range: &Range,
        limit: usize,
    ) -> StoreResult<Vec<(String, i64)>> {
        let st = if range.inclusive {
            &self.rows_from
        } else {
            &self.rows_after
        };
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        rows(exec(s, st, (key(node), &range.start, &range.upper, limit)).await?)
    }

    async fn is_split(&self, s: &Session, node: &str) -> StoreResult<bool> {
        if self.lock().contains(node) {
            return Ok(true);
        }
        let row: Option<(Option<bool>,)> =
            first(exec(s, &self.node_get, (key(&parent_of(node)), key(node))).await?)?;
        let split = matches!(row, Some((Some(true),)));
        if split {
            self.remember_split(node);
        }
        Ok(split)
    }

    fn remember_split(&self, node: &str) {
        let mut known = self.lock();
        if known.len() >= MAX_KNOWN_SPLIT {
            known.clear();
        }
        known.insert(node.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.known_split
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Copies every username into the tree (migration 2, from a schema that had none).
pub(super) async fn backfill(s: &Session, ks: &str) -> StoreResult<()> {
    let tree = UsernameTree::prepare(s, ks, SPLIT_AT).await?;
    let mut pages = s
        .query_iter(format!("SELECT username, user_id FROM {ks}.usernames"), ())
        .await
        .map_err(cql_error)?
        .rows_stream::<(String, Option<i64>)>()
        .map_err(cql_error)?;
    let mut n = 0u64;
    while let Some((username, id)) = pages.try_next().await.map_err(cql_error)? {
        if let Some(id) = id {
            tree.place(s, &username, id, None).await?;
            n += 1;
        }
    }
    tracing::info!(usernames = n, "username search index built");
    Ok(())
}

/// Where a search starts and ends.
struct Range {
    start: String,
    inclusive: bool,
    upper: String,
}

/// A node's name as stored: CQL refuses an empty partition key, and the root's name is empty.
fn key(node: &str) -> String {
    format!("/{node}")
}

/// A node's name from its stored form.
fn node_of(key: &str) -> String {
    key.strip_prefix('/').unwrap_or(key).to_owned()
}

/// The first `n` characters of `s`.
fn chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The node one character up (the root is its own parent).
fn parent_of(node: &str) -> String {
    let mut parent = node.to_owned();
    parent.pop();
    parent
}

async fn exec(
    s: &Session,
    st: &PreparedStatement,
    values: impl scylla::serialize::row::SerializeRow,
) -> StoreResult<scylla::response::query_result::QueryResult> {
    s.execute_unpaged(st, values).await.map_err(cql_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_prefixes_count_characters() {
        assert_eq!(parent_of(""), "");
        assert_eq!(parent_of("k"), "");
        assert_eq!(parent_of("kim"), "ki");
        assert_eq!(parent_of("김치"), "김");
        assert_eq!(chars("김치찌개", 2), "김치");
        assert_eq!(chars("ab", 5), "ab");
    }
}
