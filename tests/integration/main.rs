//! Integration tests: the `backup` binary against the real git and bup.
//! One test binary (see Cargo.toml); each module covers one area.

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod bupcompat;
mod chunk_vs_bup;
mod crash;
mod fuzzed;
mod ls;
mod restore;
mod rules;
mod save;
mod util;
