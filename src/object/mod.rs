//! Git object codecs used by the repository: trees, commits, and bup's name
//! mangling. Pure functions over bytes; no I/O.

pub mod commit;
pub mod mangle;
pub mod tree;

pub use commit::{Commit, Signature};
pub use tree::{MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_SYMLINK, MODE_TREE, TreeEntry};
