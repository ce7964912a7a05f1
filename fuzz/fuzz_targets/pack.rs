//! Fuzz target `pack`: see `backup_fuzz::pack` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::pack(data));
