use std::sync::Arc;

use super::*;
use crate::conformance;

const WIDTH: i64 = 1_000;

fn open(dir: &std::path::Path) -> EmbeddedStore {
    EmbeddedStore::open(EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: WIDTH,
        fsync: true,
        max_batch: 64,
    })
    .unwrap()
}

macro_rules! conformance_tests {
    ($($name:ident),*) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            conformance::$name(&open(dir.path())).await;
        }
    )*};
}

conformance_tests!(
    users,
    refresh_tokens,
    rooms_and_members,
    direct_rooms,
    conditional_append
);

#[tokio::test]
async fn history_across_buckets() {
    let dir = tempfile::tempdir().unwrap();
    conformance::history_across_buckets(&open(dir.path()), WIDTH).await;
}

#[tokio::test]
async fn concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    conformance::concurrent_appends(Arc::new(open(dir.path()))).await;
}

#[tokio::test]
async fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        conformance::conditional_append(&store).await;
    }
    let store = open(dir.path());
    assert_eq!(store.room_head(5).await.unwrap().last_seq, 2);
    assert_eq!(store.history(5, 0, 10).await.unwrap().len(), 2);
}

#[test]
fn rejects_zero_bucket_width() {
    let dir = tempfile::tempdir().unwrap();
    let r = EmbeddedStore::open(EmbeddedConfig {
        path: dir.path().to_path_buf(),
        bucket_width_ms: 0,
        fsync: false,
        max_batch: 1,
    });
    assert!(matches!(r, Err(StoreError::Invalid(_))));
}
