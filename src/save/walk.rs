//! Walking the paths to save: resolving roots as bup does (absolute, parent
//! symlinks resolved, the last component not followed), applying exclusion
//! rules, and producing entries depth-first with children in bytewise name
//! order — the order of [`crate::fsindex::dfs_cmp`].

use crate::fsindex::{RootRules, dfs_cmp, is_under};
use regex::bytes::Regex;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Errors preparing a walk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path to save cannot be resolved.
    #[error("cannot save {path}: {source}")]
    Root {
        /// The path as given.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An `--exclude-rx` pattern does not compile.
    #[error("invalid --exclude-rx pattern {pattern:?}: {source}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The cause.
        source: regex::Error,
    },
}

/// Absolute form of `p` with its parent's symlinks resolved and the last
/// component kept as is (so a symlink given as a path is saved as a link).
pub fn resolve_root(p: &Path) -> Result<PathBuf, Error> {
    let err = |source| Error::Root {
        path: p.to_path_buf(),
        source,
    };
    let abs = std::path::absolute(p).map_err(err)?;
    std::fs::symlink_metadata(&abs).map_err(err)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = std::fs::canonicalize(parent).map_err(err)?;
            Ok(parent.join(name))
        }
        // `/`, or a path ending in `..`: a directory, resolve it whole.
        _ => std::fs::canonicalize(&abs).map_err(err),
    }
}

/// Sort roots in walk order and drop those inside another root.
pub fn normalise_roots(mut roots: Vec<RootRules>) -> Vec<RootRules> {
    roots.sort_by(|a, b| dfs_cmp(&a.path, &b.path));
    let mut out: Vec<RootRules> = Vec::with_capacity(roots.len());
    for r in roots {
        if out.iter().any(|o| is_under(&r.path, &o.path)) {
            continue;
        }
        out.push(r);
    }
    out
}

/// Compiled exclusion rules of one root.
pub struct Excluder {
    paths: Vec<Vec<u8>>,
    rx: Vec<Regex>,
}

impl Excluder {
    /// Compile `rules`; `also` (e.g. the repository itself) is excluded too.
    pub fn new(rules: &RootRules, also: &[PathBuf]) -> Result<Excluder, Error> {
        let mut paths = rules.exclude.clone();
        paths.extend(also.iter().map(|p| p.as_os_str().as_bytes().to_vec()));
        for p in &mut paths {
            while p.len() > 1 && p.last() == Some(&b'/') {
                p.pop();
            }
        }
        let rx = rules
            .exclude_rx
            .iter()
            .map(|pat| {
                Regex::new(pat).map_err(|source| Error::Regex {
                    pattern: pat.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Excluder { paths, rx })
    }

    /// Whether `path` (absolute) is excluded. Regexes see directories with a
    /// trailing `/`, as bup's `--exclude-rx` does.
    pub fn excluded(&self, path: &[u8], is_dir: bool) -> bool {
        if self.paths.iter().any(|x| is_under(path, x)) {
            return true;
        }
        if self.rx.is_empty() {
            return false;
        }
        if is_dir {
            let mut p = path.to_vec();
            p.push(b'/');
            self.rx.iter().any(|r| r.is_match(&p))
        } else {
            self.rx.iter().any(|r| r.is_match(path))
        }
    }
}

/// One step of a walk.
pub enum Step {
    /// An entry, `depth` 0 being the root itself.
    Entry {
        /// Depth below the root.
        depth: usize,
        /// Absolute path.
        path: PathBuf,
        /// lstat of the entry.
        stat: std::fs::Metadata,
    },
    /// Something could not be read (a directory listing, a vanished entry).
    Error {
        /// The path concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Walk one root depth-first, children sorted bytewise, not following
/// symlinks, honouring the rules.
pub fn walk(root: &RootRules, excl: Excluder) -> impl Iterator<Item = Step> {
    let root_path = PathBuf::from(std::ffi::OsString::from_vec(root.path.clone()));
    walkdir::WalkDir::new(&root_path)
        .follow_links(false)
        .same_file_system(root.one_file_system)
        .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()))
        .into_iter()
        .filter_entry(move |e| {
            !excl.excluded(e.path().as_os_str().as_bytes(), e.file_type().is_dir())
        })
        .map(|r| match r {
            Ok(e) => match e.metadata() {
                Ok(stat) => Step::Entry {
                    depth: e.depth(),
                    path: e.into_path(),
                    stat,
                },
                Err(err) => Step::Error {
                    path: e.into_path(),
                    reason: describe_walk_error(&err),
                },
            },
            Err(err) => Step::Error {
                path: err.path().map(Path::to_path_buf).unwrap_or_default(),
                reason: describe_walk_error(&err),
            },
        })
}

fn describe_walk_error(err: &walkdir::Error) -> String {
    match err.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => "vanished during the save".into(),
        Some(io) => io.to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(p: &str) -> RootRules {
        RootRules {
            path: p.as_bytes().to_vec(),
            ..RootRules::default()
        }
    }

    #[test]
    fn nested_roots_collapse_and_sort() {
        let r = normalise_roots(vec![rules("/b"), rules("/a/x"), rules("/a"), rules("/a-b")]);
        let p: Vec<_> = r
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path).into_owned())
            .collect();
        assert_eq!(p, ["/a", "/a-b", "/b"]);
    }

    #[test]
    fn exclusions_match_paths_and_regexes() {
        let mut r = rules("/a");
        r.exclude = vec![b"/a/skip/".to_vec()];
        r.exclude_rx = vec![r"\.tmp$".into(), "/cache/$".into()];
        let x = Excluder::new(&r, &[PathBuf::from("/a/repo")]).unwrap();
        assert!(x.excluded(b"/a/skip", true));
        assert!(x.excluded(b"/a/skip/deeper", false));
        assert!(!x.excluded(b"/a/skipper", false));
        assert!(x.excluded(b"/a/x.tmp", false));
        assert!(x.excluded(b"/a/b/cache", true));
        assert!(!x.excluded(b"/a/b/cache", false));
        assert!(x.excluded(b"/a/repo/objects", true));
        let mut bad = rules("/a");
        bad.exclude_rx = vec!["(".into()];
        assert!(Excluder::new(&bad, &[]).is_err());
    }

    #[test]
    fn walk_is_sorted_depth_first_and_resolves_parent_links() {
        let td = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(td.path()).unwrap();
        for p in ["d/a-b", "d/a/x", "d/ab"] {
            let p = base.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        std::os::unix::fs::symlink(base.join("d"), base.join("link")).unwrap();
        let root = resolve_root(&base.join("link/a")).unwrap();
        assert_eq!(root, base.join("d/a"));
        let r = rules(base.join("d").to_str().unwrap());
        let got: Vec<String> = walk(&r, Excluder::new(&r, &[]).unwrap())
            .filter_map(|s| match s {
                Step::Entry { path, .. } => {
                    Some(path.strip_prefix(&base).unwrap().display().to_string())
                }
                Step::Error { .. } => None,
            })
            .collect();
        assert_eq!(got, ["d", "d/a", "d/a/x", "d/a-b", "d/ab"]);
    }
}
