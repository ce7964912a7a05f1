//! Fuzz target `delta`: see `backup_fuzz::delta` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::delta(data));
