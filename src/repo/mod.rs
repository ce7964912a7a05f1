//! The repository: a bare git repository that bup also accepts.
//!
//! Owns: where a repository is, creating one (`init`), opening one, its
//! config ([`config`]), its refs ([`refs`]), the writer lock ([`lock`]), the
//! index of objects over all packs ([`odb`]), the [`ObjectSink`] through
//! which `save` and `split` write ([`sink`]), and the [`ObjectSource`]
//! through which `ls`, `cat-file`, `join` and `restore` read ([`source`]).
//!
//! Layout (bup-format.md §1): `HEAD`, `config`, `objects/pack/pack-*.{pack,idx}`,
//! `refs/heads/<name>` (one branch per backup name), plus our own files in the
//! repository root: `backup.lock` (writer lock) and `backup.index` (the local
//! file index, a cache).

pub mod config;
pub mod lock;
pub mod mem;
pub mod odb;
pub mod refs;
pub mod sink;
pub mod source;

use std::path::{Path, PathBuf};
use std::sync::Once;

pub use config::RepoConfig;
pub use lock::RepoLock;
pub use mem::MemSink;
pub use odb::ObjectIndex;
pub use sink::{LocalSink, ObjectSink, SinkError, SinkStats};
pub use source::{LocalSource, ObjectSource, ReadError};

use crate::chunk::ChunkerConfig;

/// Errors opening or creating a repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist.
    #[error("repository {0} does not exist (create it with `backup -d {0} init`)")]
    Missing(PathBuf),
    /// The path exists but is not a repository.
    #[error("{0} is not a backup repository (no objects/pack directory)")]
    NotARepo(PathBuf),
    /// `init` on a non-empty directory that is not a repository.
    #[error(
        "{0} is a non-empty directory that is not a repository; refusing to initialise it (choose an empty or new directory)"
    )]
    NotEmpty(PathBuf),
    /// `init` asked for a different chunker than the repository records.
    #[error(
        "repository {path} already uses chunker {have}; a repository keeps one chunker so that every save deduplicates against the others"
    )]
    ChunkerMismatch {
        /// Repository path.
        path: PathBuf,
        /// What the repository records.
        have: String,
    },
    /// A filesystem operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The repository config could not be read or written.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// libgit2 refused the repository.
    #[error("git: {path}: {source}")]
    Git {
        /// Repository path.
        path: PathBuf,
        /// The cause.
        source: git2::Error,
    },
}

/// An open repository.
#[derive(Debug, Clone)]
pub struct Repo {
    path: PathBuf,
    config: RepoConfig,
}

impl Repo {
    /// Open an existing repository (ours or one written by bup).
    pub fn open(path: &Path) -> Result<Repo, Error> {
        global_git_setup();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing(path.to_path_buf()));
            }
            Err(e) => {
                return Err(Error::Io {
                    what: "cannot access repository",
                    path: path.to_path_buf(),
                    source: e,
                });
            }
            Ok(_) => {}
        }
        if !path.join("objects/pack").is_dir() {
            return Err(Error::NotARepo(path.to_path_buf()));
        }
        let config = RepoConfig::load(path)?;
        Ok(Repo {
            path: path.to_path_buf(),
            config,
        })
    }

    /// Create a repository at `path`, or confirm an existing one.
    ///
    /// `chunker` is recorded on first initialisation. `None` keeps what an
    /// existing repository records (a repository created by bup, which
    /// records nothing, gets `bup` so that new saves keep deduplicating
    /// against old ones) and picks the fastcdc default for a new one.
    pub fn init(path: &Path, chunker: Option<ChunkerConfig>) -> Result<Repo, Error> {
        global_git_setup();
        let io = |what: &'static str| {
            let path = path.to_path_buf();
            move |source| Error::Io { what, path, source }
        };
        let exists = path.exists();
        let is_repo = path.join("objects/pack").is_dir() && path.join("HEAD").is_file();
        if exists && !is_repo {
            let meta = std::fs::metadata(path).map_err(io("cannot access"))?;
            if !meta.is_dir() {
                return Err(Error::NotEmpty(path.to_path_buf()));
            }
            let mut entries = std::fs::read_dir(path).map_err(io("cannot list"))?;
            // A half-finished init (killed before HEAD was written) leaves
            // only git's own layout behind; completing it is safe.
            let only_git_layout = entries.all(|e| {
                e.map(|e| {
                    matches!(
                        e.file_name().to_str(),
                        Some("objects" | "refs" | "config" | "description" | "hooks" | "info")
                    )
                })
                .unwrap_or(false)
            });
            if !only_git_layout {
                return Err(Error::NotEmpty(path.to_path_buf()));
            }
        }
        if !is_repo {
            std::fs::create_dir_all(path).map_err(io("cannot create repository directory"))?;
            let mut opts = git2::RepositoryInitOptions::new();
            opts.bare(true).no_reinit(false).mkpath(true);
            git2::Repository::init_opts(path, &opts).map_err(|source| Error::Git {
                path: path.to_path_buf(),
                source,
            })?;
            std::fs::create_dir_all(path.join("objects/pack"))
                .map_err(io("cannot create objects/pack in"))?;
            std::fs::create_dir_all(path.join("refs/heads"))
                .map_err(io("cannot create refs/heads in"))?;
            std::fs::create_dir_all(path.join("refs/tags"))
                .map_err(io("cannot create refs/tags in"))?;
        }
        let recorded = config::recorded_chunker(path)?;
        let chosen = match (recorded, chunker) {
            (Some(have), Some(want)) if have != want => {
                return Err(Error::ChunkerMismatch {
                    path: path.to_path_buf(),
                    have: config::describe_chunker(&have),
                });
            }
            (Some(have), _) => have,
            (None, Some(want)) => want,
            (None, None) if is_repo => ChunkerConfig::Bup,
            (None, None) => ChunkerConfig::fastcdc_default(),
        };
        config::write_init_config(path, &chosen)?;
        sync_dir(path).map_err(io("cannot sync"))?;
        Repo::open(path)
    }

    /// The repository directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The repository's settings.
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// `objects/pack` inside the repository.
    pub fn pack_dir(&self) -> PathBuf {
        self.path.join("objects/pack")
    }

    /// Where the local file index of this repository lives.
    pub fn fsindex_path(&self) -> PathBuf {
        self.path.join("backup.index")
    }

    /// Open the repository with libgit2 (for refs and config).
    pub fn git(&self) -> Result<git2::Repository, Error> {
        git2::Repository::open_bare(&self.path).map_err(|source| Error::Git {
            path: self.path.clone(),
            source,
        })
    }
}

/// The repository to use: `-d` if given, else `$BACKUP_DIR`, else `~/.backup`.
pub fn default_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("BACKUP_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".backup")
}

/// fsync a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// libgit2 process-wide settings: fsync ref and config writes; accept
/// repositories owned by another user (we only read refs and config through
/// libgit2; nothing in a repository makes it run programs); and ignore the
/// user's and system's git config, which must not change how backups are
/// written (and may be unreadable, e.g. `$HOME` of another user under sudo).
#[allow(unsafe_code)]
fn global_git_setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: git_libgit2_opts with ENABLE_FSYNC_GITDIR takes one int
        // argument; it only sets a global flag. Called once, before any
        // other libgit2 use in this process, so there is no concurrent access.
        unsafe {
            libgit2_sys::init();
            libgit2_sys::git_libgit2_opts(
                libgit2_sys::GIT_OPT_ENABLE_FSYNC_GITDIR as libc::c_int,
                1,
            );
        }
        // SAFETY: as above; global settings changed before any repository is
        // opened, from the one thread that runs this `call_once`.
        unsafe {
            let _ = git2::opts::set_verify_owner_validation(false);
            for level in [
                git2::ConfigLevel::System,
                git2::ConfigLevel::XDG,
                git2::ConfigLevel::Global,
                git2::ConfigLevel::ProgramData,
            ] {
                let _ = git2::opts::set_search_path(level, "");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_a_repo_git_accepts_and_is_idempotent() {
        let td = tempfile::tempdir().unwrap();
        let p = td.path().join("r");
        let r = Repo::init(&p, None).unwrap();
        assert!(p.join("objects/pack").is_dir());
        assert_eq!(r.config().chunker, ChunkerConfig::fastcdc_default());
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&p)
            .args(["config", "core.logAllRefUpdates"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
        // Re-running is harmless and keeps the recorded chunker.
        let r2 = Repo::init(&p, None).unwrap();
        assert_eq!(r2.config().chunker, r.config().chunker);
        // Asking for another chunker is refused.
        let err = Repo::init(&p, Some(ChunkerConfig::Bup)).unwrap_err();
        assert!(matches!(err, Error::ChunkerMismatch { .. }), "{err}");
    }

    #[test]
    fn init_refuses_non_empty_non_repo_and_open_explains() {
        let td = tempfile::tempdir().unwrap();
        std::fs::write(td.path().join("precious.txt"), b"x").unwrap();
        let err = Repo::init(td.path(), None).unwrap_err();
        assert!(matches!(err, Error::NotEmpty(_)), "{err}");
        assert!(td.path().join("precious.txt").exists());
        assert!(matches!(
            Repo::open(td.path()).unwrap_err(),
            Error::NotARepo(_)
        ));
        let missing = td.path().join("nope");
        assert!(matches!(
            Repo::open(&missing).unwrap_err(),
            Error::Missing(_)
        ));
    }

    #[test]
    fn init_on_a_bup_repo_records_the_bup_chunker() {
        let td = tempfile::tempdir().unwrap();
        let p = td.path().join("bup");
        let st = std::process::Command::new("bup")
            .env("BUP_DIR", &p)
            .arg("init")
            .output()
            .expect("the real bup must be installed (apt install bup)");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let r = Repo::init(&p, None).unwrap();
        assert_eq!(r.config().chunker, ChunkerConfig::Bup);
    }
}
