#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| owl::fuzz::ndjson_fast_path(data));
