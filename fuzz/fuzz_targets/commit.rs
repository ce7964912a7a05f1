//! Fuzz target `commit`: see `backup_fuzz::commit` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::commit(data));
