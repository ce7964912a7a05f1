//! Fuzz target `tree`: see `backup_fuzz::tree` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::tree(data));
