#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| owl::fuzz::registry(data));
