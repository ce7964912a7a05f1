//! Fuzz target `bupm`: see `backup_fuzz::bupm` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::bupm(data));
