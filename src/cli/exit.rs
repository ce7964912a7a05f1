//! Exit codes (docs/exit-codes.md). Scripts and monitoring rely on them.

/// Success.
pub const OK: u8 = 0;
/// Failure; nothing new was recorded (earlier saves are intact).
pub const ERROR: u8 = 1;
/// Bad usage (unknown option, missing argument).
pub const USAGE: u8 = 2;
/// The save completed but some paths could not be read; they were skipped.
pub const PARTIAL: u8 = 3;
/// The repository does not exist or is not a repository.
pub const NO_REPO: u8 = 10;
/// Another writer holds the repository lock.
pub const LOCKED: u8 = 11;
