//! libFuzzer target: `chat_gateway::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chat_gateway::fuzzing::request(data));
