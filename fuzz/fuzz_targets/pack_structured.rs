//! Fuzz target `pack_structured`: see `backup_fuzz::pack_structured` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::pack_structured(data));
