//! Fuzz target: `lambda_media_proxy::fuzzing::probe` (see `src/fuzzing.rs` for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lambda_media_proxy::fuzzing::probe(data));
