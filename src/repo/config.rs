//! The repository's own settings, kept in its git `config` file so that
//! every writer of the repository (local, remote, bup) sees the same values.
//!
//! Keys we own live in the `[backup]` section:
//!
//! | key | meaning |
//! |---|---|
//! | `backup.formatVersion` | `1`; a future incompatible layout bumps it |
//! | `backup.chunker` | `fastcdc` or `bup` (absent: the repository came from bup → `bup`) |
//! | `backup.minSize`, `backup.avgSize`, `backup.maxSize` | fastcdc bounds in bytes |
//! | `backup.compression` | zlib level for new pack entries (default 1, as bup) |
//!
//! We also honour git's `pack.packSizeLimit` (bytes per pack) as bup does.
//! `init` sets `core.logAllRefUpdates = true` and `pack.indexVersion = 2`
//! like `bup init`.

use crate::chunk::ChunkerConfig;
use std::path::{Path, PathBuf};

/// Format version this build writes and understands.
pub const FORMAT_VERSION: i64 = 1;
/// bup's default maximum pack size (bytes).
pub const DEFAULT_PACK_SIZE_LIMIT: u64 = 1_000_000_000;
/// bup's cap on objects per pack.
pub const MAX_PACK_OBJECTS: u32 = 200_000;

/// Errors reading or writing the repository config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be opened, parsed or written.
    #[error("repository config {path}: {source}")]
    Git {
        /// The config file.
        path: PathBuf,
        /// The cause.
        source: git2::Error,
    },
    /// A value is present but not acceptable.
    #[error(
        "repository config {path}: {key} = {value:?} is invalid: {why} (fix it with `git config --file {path} {key} ...`)"
    )]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// The repository was written by a newer, incompatible version.
    #[error(
        "repository {path} has format version {found}; this backup understands up to {FORMAT_VERSION} (upgrade backup)"
    )]
    TooNew {
        /// The repository.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
}

/// Settings read from a repository's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoConfig {
    /// How large files and streams are split.
    pub chunker: ChunkerConfig,
    /// zlib level for new objects.
    pub compression: i32,
    /// Start a new pack past this many bytes.
    pub pack_size_limit: u64,
    /// Start a new pack past this many objects.
    pub max_pack_objects: u32,
}

fn open(repo: &Path) -> Result<git2::Config, Error> {
    let path = repo.join("config");
    git2::Config::open(&path).map_err(|source| Error::Git { path, source })
}

fn get_str(cfg: &git2::Config, key: &str) -> Option<String> {
    cfg.get_string(key).ok()
}

fn get_int(cfg: &git2::Config, path: &Path, key: &'static str) -> Result<Option<i64>, Error> {
    match cfg.get_entry(key) {
        Err(_) => Ok(None),
        Ok(_) => cfg.get_i64(key).map(Some).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            key,
            value: get_str(cfg, key).unwrap_or_default(),
            why: e.message().to_string(),
        }),
    }
}

/// The chunker the repository records, if any.
pub fn recorded_chunker(repo: &Path) -> Result<Option<ChunkerConfig>, Error> {
    let cfg = open(repo)?;
    let path = repo.join("config");
    let Some(name) = get_str(&cfg, "backup.chunker") else {
        return Ok(None);
    };
    match name.as_str() {
        "bup" => Ok(Some(ChunkerConfig::Bup)),
        "fastcdc" => {
            let min = get_int(&cfg, &path, "backup.minSize")?;
            let avg = get_int(&cfg, &path, "backup.avgSize")?;
            let max = get_int(&cfg, &path, "backup.maxSize")?;
            let (Some(min), Some(avg), Some(max)) = (min, avg, max) else {
                return Err(Error::Invalid {
                    path,
                    key: "backup.chunker",
                    value: name,
                    why: "fastcdc needs backup.minSize, backup.avgSize and backup.maxSize".into(),
                });
            };
            let as_u32 = |v: i64, key: &'static str| {
                u32::try_from(v).map_err(|_| Error::Invalid {
                    path: path.clone(),
                    key,
                    value: v.to_string(),
                    why: "out of range".into(),
                })
            };
            let c = ChunkerConfig::FastCdc {
                min: as_u32(min, "backup.minSize")?,
                avg: as_u32(avg, "backup.avgSize")?,
                max: as_u32(max, "backup.maxSize")?,
            };
            c.validate().map_err(|e| Error::Invalid {
                path: path.clone(),
                key: "backup.avgSize",
                value: avg.to_string(),
                why: e.to_string(),
            })?;
            Ok(Some(c))
        }
        _ => Err(Error::Invalid {
            path,
            key: "backup.chunker",
            value: name,
            why: "expected `fastcdc` or `bup`".into(),
        }),
    }
}

/// A short human description of a chunker setting.
pub fn describe_chunker(c: &ChunkerConfig) -> String {
    match c {
        ChunkerConfig::Bup => "bup (rollsum, as bup 0.33)".into(),
        ChunkerConfig::FastCdc { min, avg, max } => {
            format!("fastcdc (min {min}, avg {avg}, max {max} bytes)")
        }
    }
}

/// Write the settings `init` records.
pub(crate) fn write_init_config(repo: &Path, chunker: &ChunkerConfig) -> Result<(), Error> {
    let path = repo.join("config");
    let mut cfg = open(repo)?;
    let git = |source| Error::Git {
        path: path.clone(),
        source,
    };
    cfg.set_bool("core.logAllRefUpdates", true).map_err(git)?;
    cfg.set_i64("pack.indexVersion", 2).map_err(git)?;
    cfg.set_i64("backup.formatVersion", FORMAT_VERSION)
        .map_err(git)?;
    cfg.set_str("backup.chunker", chunker.name()).map_err(git)?;
    if let ChunkerConfig::FastCdc { min, avg, max } = chunker {
        cfg.set_i64("backup.minSize", i64::from(*min))
            .map_err(git)?;
        cfg.set_i64("backup.avgSize", i64::from(*avg))
            .map_err(git)?;
        cfg.set_i64("backup.maxSize", i64::from(*max))
            .map_err(git)?;
    }
    Ok(())
}

impl RepoConfig {
    /// Read the settings of the repository at `repo`.
    pub fn load(repo: &Path) -> Result<RepoConfig, Error> {
        let cfg = open(repo)?;
        let path = repo.join("config");
        if let Some(v) = get_int(&cfg, &path, "backup.formatVersion")?
            && v > FORMAT_VERSION
        {
            return Err(Error::TooNew { path, found: v });
        }
        let chunker = recorded_chunker(repo)?.unwrap_or(ChunkerConfig::Bup);
        let compression = match get_int(&cfg, &path, "backup.compression")? {
            None => 1,
            Some(v @ 0..=9) => v as i32,
            Some(v) => {
                return Err(Error::Invalid {
                    path,
                    key: "backup.compression",
                    value: v.to_string(),
                    why: "zlib levels are 0..=9".into(),
                });
            }
        };
        let pack_size_limit = match get_int(&cfg, &path, "pack.packSizeLimit")? {
            None | Some(0) => DEFAULT_PACK_SIZE_LIMIT,
            Some(v) if v >= 1 << 20 => v as u64,
            Some(v) => {
                return Err(Error::Invalid {
                    path,
                    key: "pack.packSizeLimit",
                    value: v.to_string(),
                    why: "must be at least 1 MiB".into(),
                });
            }
        };
        Ok(RepoConfig {
            chunker,
            compression,
            pack_size_limit,
            max_pack_objects: MAX_PACK_OBJECTS,
        })
    }
}
