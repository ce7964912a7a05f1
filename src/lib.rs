//! `backup`: bup-compatible, content-addressed, deduplicating backups stored
//! in plain git repositories.
//!
//! # Module map (dependencies point down; nothing imports `cli`)
//!
//! ```text
//! cli ──► save · (restore, remote, mirror: later)
//! save ──► chunk, meta, fsindex, object, repo::{ObjectSink}
//! repo ──► pack ──► object ──► oid
//! leaves: oid, chunk (+ object for chunk trees), meta
//! ```
//!
//! * [`oid`]: SHA-1 object ids and object kinds.
//! * [`object`]: git tree/commit codecs and bup name mangling.
//! * [`chunk`]: content-defined chunking (fastcdc, bup's rollsum) and bup's
//!   chunk-tree ("fanout") layout for large files.
//! * [`meta`]: `.bupm` metadata records: capture from the filesystem,
//!   encode, decode.
//! * [`pack`]: pack files and `.idx` v2 files: writing and reading.
//! * [`repo`]: the repository: layout, config, refs, locking, the object
//!   index over all packs, and the [`repo::ObjectSink`] that writers use.
//! * [`fsindex`]: the local file index that lets a save skip unchanged files.
//! * [`save`]: `save` and `split`: walk, chunk, hash, compress, write.
//! * [`restore`]: recreate files and metadata, safely, in parallel.
//! * [`vfs`]: the repository as bup shows it (branches, dated saves,
//!   directories with metadata) for `ls`, `cat-file`, `join`, `restore`.
//!
//! `docs/design.md` describes the on-disk format, invariants and write order.
#![deny(unsafe_code)]

pub mod chunk;
pub mod failpoint;
pub mod fsindex;
pub mod meta;
pub mod object;
pub mod oid;
pub mod pack;
pub mod repo;
pub mod restore;
pub mod save;
pub mod vfs;
