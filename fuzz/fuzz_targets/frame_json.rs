//! libFuzzer target: `chat_proto::fuzzing::json_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chat_proto::fuzzing::json_frame(data));
