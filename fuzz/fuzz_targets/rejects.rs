#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tim_fuzz::rejects(data));
