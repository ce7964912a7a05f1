//! Git pack files and `.idx` files: writing and reading.
//!
//! Owns the on-disk formats of `objects/pack/pack-<sha>.{pack,idx}`
//! (`docs/bup-format.md` §1.2, §1.3):
//!
//! * [`entry`]: encoding one object as a pack entry ([`PackedObject`]: type/size
//!   header + zlib stream, with its id and CRC-32). This is also the unit the
//!   remote protocol sends.
//! * [`write`](mod@write): [`PackWriter`], which appends entries to a temporary pack and
//!   finishes it crash-safely (trailer, fsync, idx, renames: pack first, idx last).
//! * [`idx`]: writing `.idx` v2 ([`write_idx_v2`]) and looking ids up in a
//!   parsed `.idx` v2 or v1 ([`Idx`]).
//! * [`read`]: reading objects back out of a pack ([`Pack`]), including the
//!   OFS_DELTA/REF_DELTA entries that `git gc`/`git repack` may have written.
//! * [`delta`]: applying a git delta to its base.
//!
//! This module never decides *whether* an object should be written (dedup is
//! the repository's job) and never touches refs, midx or bloom files.

pub mod delta;
pub mod entry;
pub mod idx;
pub mod read;
pub mod write;

#[cfg(test)]
pub(crate) mod testutil;

pub use delta::apply_delta;
pub use entry::{Compression, PackedObject, encode_object, encode_object_with_id};
pub use idx::{Idx, write_idx_v2};
pub use read::{Pack, parse_entry_header};
pub use write::{FinishedPack, IdSet, PackWriter, Recovery, recover, set_failpoint_hook};

/// Pack entry type code of an offset delta (base named by a backwards offset).
pub const OFS_DELTA: u8 = 6;
/// Pack entry type code of a reference delta (base named by its object id).
pub const REF_DELTA: u8 = 7;

/// Map a whole file read-only into memory.
///
/// Pack and idx files are immutable once renamed into place (writers only
/// ever create new files), which is what makes the mapping sound in practice.
#[allow(unsafe_code)]
pub(crate) fn map_readonly(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: memmap2 requires that the file is not modified or truncated
    // while mapped. Pack and idx files are written under a temporary name and
    // never modified after the rename; a concurrent truncation by a foreign
    // process (which would raise SIGBUS) is outside what we can guard against,
    // as it is for git itself, which maps the same files.
    unsafe { memmap2::Mmap::map(file) }
}
