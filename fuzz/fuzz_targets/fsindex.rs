//! Fuzz target `fsindex`: see `backup_fuzz::fsindex` and fuzz/README.md.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch file per fuzzing process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("backup-fuzz-fsindex-{}", std::process::id()))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_fuzz::fsindex(data, scratch()));
