use super::*;
use crate::test_log::Log;

async fn terms(log: &Log, seq: Seq) -> Vec<String> {
    let m = log.store.message(log.room, seq).await.unwrap().unwrap();
    let bucket = log.store.bucket_of(m.sent_at_ms);
    log.store
        .indexed_terms(log.room, bucket, seq)
        .await
        .unwrap()
}

#[tokio::test]
async fn follows_the_log_through_edits_and_deletes() {
    let mut log = Log::new(1).await;
    let hello = log.send(1, "hello world").await;
    let bye = log.send(1, "bye").await;
    log.react(2, hello).await;
    log.index().await;
    assert_eq!(log.store.index_watermark(1).await.unwrap(), log.last);
    assert_eq!(terms(&log, hello).await, ["hello", "world"]);

    log.edit(hello, "hallo welt").await;
    log.delete(bye).await;
    log.index().await;
    assert_eq!(terms(&log, hello).await, ["hallo", "welt"]);
    assert!(terms(&log, bye).await.is_empty());
    // Only messages are indexed: reactions, edits and deletes are changes to them.
    assert!(terms(&log, log.last).await.is_empty());
}

#[tokio::test]
async fn resumes_from_the_watermark_and_replays_harmlessly() {
    let mut log = Log::new(1).await;
    for i in 0..(STEP_ENTRIES + 10) {
        log.send(1, &format!("message {i}")).await;
    }
    // One step only, as if the indexer stopped there.
    let w = step(&log.store, 1, 0, log.last).await.unwrap();
    assert_eq!(w, STEP_ENTRIES as Seq);
    assert_eq!(log.store.index_watermark(1).await.unwrap(), w);
    assert!(terms(&log, log.last).await.is_empty());
    assert_eq!(catch_up(&log.store, 1, log.last).await.unwrap(), log.last);
    assert_eq!(
        terms(&log, log.last).await,
        [format!("{}", STEP_ENTRIES + 9), "message".to_string()]
    );
    // A replay from an older watermark (a new owner behind the old one) changes nothing.
    assert_eq!(
        step(&log.store, 1, 0, log.last).await.unwrap(),
        STEP_ENTRIES as Seq
    );
    assert_eq!(log.store.index_watermark(1).await.unwrap(), log.last);
    assert_eq!(terms(&log, 1).await, ["0", "message"]);
}

#[tokio::test]
async fn file_names_are_indexed() {
    let mut log = Log::new(1).await;
    let s = log
        .send_file(1, "", "보고서_final.pdf", "application/pdf")
        .await;
    log.index().await;
    let t = terms(&log, s).await;
    for want in ["보고", "고서", "final", "pdf"] {
        assert!(t.iter().any(|x| x == want), "{want} in {t:?}");
    }
}
