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
    #[error("invalid --exclude-rx pattern {pattern:?}: {why}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The parser's complaint (its last line; the rest is an ASCII-art
        /// pointer into the pattern).
        why: String,
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

/// The rules a save applies to `root`: its own one-off rules (`cli`), plus
/// the rules `backup index` recorded for `root` or a directory above it
/// (all of them), plus the exclusions recorded for roots below it (so
/// saving a parent keeps honouring a child's recorded exclusions).
/// Duplicates are dropped.
pub fn effective_rules(root: &[u8], cli: &RootRules, recorded: &[RootRules]) -> RootRules {
    let mut r = RootRules {
        path: root.to_vec(),
        ..cli.clone()
    };
    for x in recorded {
        let above = is_under(root, &x.path);
        let below = is_under(&x.path, root);
        if above {
            r.one_file_system |= x.one_file_system;
        }
        if above || below {
            r.exclude.extend(x.exclude.iter().cloned());
            r.exclude_rx.extend(x.exclude_rx.iter().cloned());
        }
    }
    r.exclude.sort();
    r.exclude.dedup();
    let mut seen = std::collections::HashSet::new();
    r.exclude_rx.retain(|x| seen.insert(x.clone()));
    r
}

/// The roots an index records after a save of `saved`: what was recorded
/// (rules unchanged; only `backup index` sets rules), plus each saved root
/// not yet recorded, with no rules.
pub fn recorded_after_save(recorded: &[RootRules], saved: &[RootRules]) -> Vec<RootRules> {
    let mut all = recorded.to_vec();
    for r in saved {
        if !all.iter().any(|x| x.path == r.path) {
            all.push(RootRules {
                path: r.path.clone(),
                ..RootRules::default()
            });
        }
    }
    all.sort_by(|a, b| dfs_cmp(&a.path, &b.path));
    all
}

/// The roots an index records after `backup index` of `indexed` (with the
/// rules given to that command): those replace any recorded root with the
/// same path; other recorded roots keep their rules.
pub fn recorded_after_index(recorded: &[RootRules], indexed: &[RootRules]) -> Vec<RootRules> {
    let mut all: Vec<RootRules> = recorded
        .iter()
        .filter(|x| !indexed.iter().any(|r| r.path == x.path))
        .cloned()
        .collect();
    all.extend(indexed.iter().cloned());
    all.sort_by(|a, b| dfs_cmp(&a.path, &b.path));
    all
}

/// Absolute form of a path that may not exist (an `--exclude`, a graft
/// prefix): its parent's symlinks resolved when the parent exists, so it
/// compares equal to the resolved paths the walk produces.
pub fn resolve_lenient(p: &Path) -> PathBuf {
    let Ok(abs) = std::path::absolute(p) else {
        return p.to_path_buf();
    };
    if let Ok(full) = std::fs::canonicalize(&abs)
        && std::fs::symlink_metadata(&abs).is_ok_and(|m| !m.file_type().is_symlink())
    {
        return full;
    }
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(p) => p.join(name),
            Err(_) => abs.clone(),
        },
        _ => abs.clone(),
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
                Regex::new(pat).map_err(|e| Error::Regex {
                    pattern: pat.clone(),
                    why: e
                        .to_string()
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_string(),
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
        if is_dir && !path.ends_with(b"/") {
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

/// Walk one root depth-first, children sorted bytewise, never following
/// symlinks (not even a root given as a symlink), honouring the rules.
/// Under `-x` a mount point is saved, its contents are not (as bup does).
///
/// Entries are stat'ed relative to their open directory
/// (`DirEntry::metadata`, i.e. `fstatat`), not by full path, which saves the
/// kernel a path walk per file.
pub fn walk(root: &RootRules, excl: Excluder) -> Walk {
    let root_path = PathBuf::from(std::ffi::OsString::from_vec(root.path.clone()));
    Walk {
        root: Some(root_path),
        stack: Vec::new(),
        excl,
        one_file_system: root.one_file_system,
        root_dev: None,
        pending_error: None,
    }
}

/// The iterator returned by [`walk`].
pub struct Walk {
    root: Option<PathBuf>,
    /// Open directories, innermost last: their remaining entries, sorted.
    stack: Vec<std::vec::IntoIter<std::fs::DirEntry>>,
    excl: Excluder,
    one_file_system: bool,
    root_dev: Option<u64>,
    /// An error listing the directory just yielded, reported next.
    pending_error: Option<Step>,
}

impl Walk {
    /// Open `dir` for listing (its entries sorted by name), or describe why not.
    fn open_dir(&mut self, dir: &Path) -> Result<(), std::io::Error> {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(dir)? {
            entries.push(e?);
        }
        entries.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        self.stack.push(entries.into_iter());
        Ok(())
    }

    /// Descend into a directory just yielded, unless `-x` forbids it.
    fn descend(&mut self, path: &Path, stat: &std::fs::Metadata) {
        use std::os::unix::fs::MetadataExt;
        if self.one_file_system && Some(stat.dev()) != self.root_dev {
            return;
        }
        if let Err(e) = self.open_dir(path) {
            self.pending_error = Some(Step::Error {
                path: path.to_path_buf(),
                reason: describe_io(&e),
            });
        }
    }
}

impl Iterator for Walk {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        use std::os::unix::fs::MetadataExt;
        if let Some(e) = self.pending_error.take() {
            return Some(e);
        }
        if let Some(root) = self.root.take() {
            let stat = match std::fs::symlink_metadata(&root) {
                Ok(s) => s,
                Err(e) => {
                    return Some(Step::Error {
                        path: root,
                        reason: describe_io(&e),
                    });
                }
            };
            if self
                .excl
                .excluded(root.as_os_str().as_bytes(), stat.is_dir())
            {
                return None;
            }
            self.root_dev = Some(stat.dev());
            if stat.is_dir() {
                self.descend(&root, &stat);
            }
            return Some(Step::Entry {
                depth: 0,
                path: root,
                stat,
            });
        }
        loop {
            let depth = self.stack.len();
            let top = self.stack.last_mut()?;
            let Some(entry) = top.next() else {
                self.stack.pop();
                continue;
            };
            let path = entry.path();
            let stat = match entry.metadata() {
                Ok(s) => s,
                Err(e) => {
                    if self.excl.excluded(path.as_os_str().as_bytes(), false) {
                        continue;
                    }
                    return Some(Step::Error {
                        path,
                        reason: describe_io(&e),
                    });
                }
            };
            let is_dir = stat.is_dir();
            if self.excl.excluded(path.as_os_str().as_bytes(), is_dir) {
                continue;
            }
            if is_dir {
                self.descend(&path, &stat);
            }
            return Some(Step::Entry { depth, path, stat });
        }
    }
}

/// Steps sent from the walking thread at a time.
const BATCH: usize = 256;
/// Batches the walking thread may run ahead.
const AHEAD: usize = 16;

/// [`walk`] on a thread of its own within `scope`, running ahead of the
/// consumer (stat calls overlap with index and tree work) by at most
/// `AHEAD` batches. Dropping the iterator stops the walk.
pub fn walk_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    root: &RootRules,
    excl: Excluder,
) -> impl Iterator<Item = Step> + 'scope {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Step>>(AHEAD);
    let walk = walk(root, excl);
    scope.spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for step in walk {
            batch.push(step);
            if batch.len() == BATCH
                && tx
                    .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
    });
    rx.into_iter().flatten()
}

fn describe_io(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "vanished during the save".into()
    } else {
        e.to_string()
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
