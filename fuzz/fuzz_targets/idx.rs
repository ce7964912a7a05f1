//! Fuzz target `idx`: see `backup_fuzz::idx` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::idx(data));
