//! Hostile input to the frame decoders: mutations of a checked-in corpus of real frames
//! (`fuzz/corpus/frame_json`, also sent as protobuf) and arbitrary bytes. Every outcome must be a
//! frame or a `DecodeError`, never a panic. The number of cases is PROPTEST_CASES (default
//! 256 per property in the test command; raise it to run longer).
#![allow(clippy::unwrap_used, missing_docs)]

use chat_proto::{Codec, decode_client_frame, v1::ClientFrame};
use proptest::prelude::*;
use prost::Message as _;

fn corpus() -> Vec<Vec<u8>> {
    chat_proto::fuzzing::corpus("frame_json")
}

/// The corpus as protobuf: every seed that decodes as JSON, re-encoded.
fn proto_corpus() -> Vec<Vec<u8>> {
    corpus()
        .iter()
        .filter_map(|s| decode_client_frame(Codec::Json, s).ok())
        .map(|f: ClientFrame| f.encode_to_vec())
        .collect()
}

/// One mutation: flip, insert, delete or truncate at `at` (wrapped to the input).
fn mutate(mut bytes: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(op, at, value) in ops {
        let len = bytes.len();
        let i = if len == 0 { 0 } else { at % len };
        match op % 4 {
            0 if len > 0 => bytes[i] ^= value | 1,
            1 => bytes.insert(i.min(len), value),
            2 if len > 0 => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
    bytes
}

#[test]
fn every_seed_decodes() {
    // The corpus also keeps inputs fuzzing found, which need not decode; the seeds do.
    let decoded = corpus()
        .iter()
        .filter(|s| decode_client_frame(Codec::Json, s).is_ok())
        .count();
    assert!(decoded >= 5, "only {decoded} seeds decode");
    for seed in proto_corpus() {
        decode_client_frame(Codec::Proto, &seed).unwrap();
    }
}

proptest! {
    #[test]
    fn mutated_json_frames_never_panic(
        pick in 0usize..64,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        let seeds = corpus();
        let input = mutate(seeds[pick % seeds.len()].clone(), &ops);
        let _ = decode_client_frame(Codec::Json, &input);
    }

    #[test]
    fn mutated_proto_frames_never_panic(
        pick in 0usize..64,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        let seeds = proto_corpus();
        let input = mutate(seeds[pick % seeds.len()].clone(), &ops);
        let _ = decode_client_frame(Codec::Proto, &input);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_client_frame(Codec::Json, &bytes);
        let _ = decode_client_frame(Codec::Proto, &bytes);
    }

    /// What decodes re-encodes to an equal frame (no information is invented or lost).
    #[test]
    fn decoded_protobuf_frames_round_trip(
        pick in 0usize..64,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let seeds = proto_corpus();
        let input = mutate(seeds[pick % seeds.len()].clone(), &ops);
        if let Ok(frame) = decode_client_frame(Codec::Proto, &input) {
            let again = decode_client_frame(Codec::Proto, &frame.encode_to_vec()).unwrap();
            prop_assert_eq!(again, frame);
        }
    }
}
