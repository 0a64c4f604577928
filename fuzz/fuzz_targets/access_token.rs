//! libFuzzer target: `chat_actors::fuzzing::access_token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chat_actors::fuzzing::access_token(data));
