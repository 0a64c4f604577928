//! Checks run by the coverage-guided fuzz harness (`fuzz/`) and by the tests that replay its
//! checked-in corpus. Not an API: each check feeds hostile bytes to a decoder and panics when
//! something that must hold does not, which is what a fuzzer looks for.

use prost::Message as _;

use crate::{Codec, decode_client_frame, v1::ClientFrame};

/// A JSON text frame: decodes or fails cleanly; what decodes survives the protobuf
/// re-encoding that forwards it between nodes.
pub fn json_frame(data: &[u8]) {
    if let Ok(frame) = decode_client_frame(Codec::Json, data) {
        assert_forwardable(&frame);
    }
}

/// A binary protobuf frame: decodes or fails cleanly; what decodes re-encodes to an equal
/// frame.
pub fn proto_frame(data: &[u8]) {
    if let Ok(frame) = decode_client_frame(Codec::Proto, data) {
        assert_forwardable(&frame);
    }
}

fn assert_forwardable(frame: &ClientFrame) {
    match ClientFrame::decode(frame.encode_to_vec().as_slice()) {
        Ok(again) => assert_eq!(&again, frame, "a frame changed through protobuf"),
        Err(e) => panic!("a decoded frame does not decode again: {e}"),
    }
}

/// The checked-in inputs of fuzz target `target` (`fuzz/corpus/<target>`: seeds and what
/// fuzzing found), for the tests that replay them. Panics when there are none.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => panic!("no corpus at {}: {e}", dir.display()),
    };
    let mut inputs: Vec<Vec<u8>> = entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    inputs.sort();
    inputs
}

/// A seed of the checked-in corpus as its generator makes it: the file must hold exactly
/// `bytes` (a generator and its seeds cannot drift apart), or, with `CHAT_WRITE_SEEDS=1`, is
/// written.
pub fn seed(path: &std::path::Path, bytes: &[u8]) {
    if std::env::var("CHAT_WRITE_SEEDS").as_deref() == Ok("1") {
        if let Err(e) = std::fs::write(path, bytes) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    match std::fs::read(path) {
        Ok(held) => assert!(
            held == bytes,
            "{} differs from its generator (CHAT_WRITE_SEEDS=1 rewrites it)",
            path.display()
        ),
        Err(e) => panic!("seed {} is missing: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every checked-in input (seeds and what fuzzing found) passes the checks.
    #[test]
    fn the_corpus_replays() {
        corpus("frame_json").iter().for_each(|i| json_frame(i));
        corpus("frame_proto").iter().for_each(|i| proto_frame(i));
    }

    /// `fuzz/corpus/frame_proto` is the JSON seeds in protobuf (see [`seed`]).
    #[test]
    fn seeds_match_their_generator() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for entry in std::fs::read_dir(dir.join("frame_json")).unwrap() {
            let path = entry.unwrap().path();
            let Ok(frame) = decode_client_frame(Codec::Json, &std::fs::read(&path).unwrap()) else {
                continue;
            };
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            seed(&dir.join("frame_proto").join(name), &frame.encode_to_vec());
        }
    }
}
