//! `backup index`: refresh the file index for some paths without saving.
//!
//! Unchanged entries keep the object id of their last save; changed or new
//! entries are recorded without one, so the next save reads them. The rules
//! (`-x`, excludes) are recorded with each root and reused by `save`.

use super::walk;
use crate::fsindex::{self, Entry, IndexReader, IndexWriter, Merger, RootRules, Stat};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// What `index` did.
#[derive(Clone, Debug, Default)]
pub struct IndexReport {
    /// Entries indexed.
    pub entries: u64,
    /// Entries whose last saved object is still valid.
    pub unchanged: u64,
    /// Paths that could not be read: (path, reason).
    pub errors: Vec<(PathBuf, String)>,
    /// The old index was damaged and was rebuilt.
    pub rebuilt: bool,
}

/// Refresh `index_path` for `paths` under `rules` (its `path` is ignored).
pub fn index(
    index_path: &std::path::Path,
    paths: &[PathBuf],
    rules: &RootRules,
    never: &[PathBuf],
) -> Result<IndexReport, super::Error> {
    let mut report = IndexReport::default();
    let old = match IndexReader::open(index_path) {
        Ok(r) => r,
        Err(fsindex::Error::Corrupt { .. }) => {
            report.rebuilt = true;
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut roots = Vec::new();
    for p in paths {
        let abs = walk::resolve_root(p)?;
        roots.push(RootRules {
            path: abs.as_os_str().as_bytes().to_vec(),
            ..rules.clone()
        });
    }
    let roots = walk::normalise_roots(roots);
    let recorded = old.as_ref().map(|o| o.roots().to_vec()).unwrap_or_default();
    let all = walk::recorded_after_index(&recorded, &roots);
    let writer = IndexWriter::create(index_path, &all)?;
    let mut merger = Merger::new(
        old.as_ref(),
        roots.iter().map(|r| r.path.clone()).collect(),
        writer,
    );
    let mut cursor = old.as_ref().map(IndexReader::cursor);
    let cutoff = fsindex::racy_cutoff();
    for root in &roots {
        // Walk with these rules plus those recorded for other roots above
        // or below (this root's old rules are replaced, not merged).
        let others: Vec<RootRules> = recorded
            .iter()
            .filter(|x| x.path != root.path)
            .cloned()
            .collect();
        let effective = walk::effective_rules(&root.path, root, &others);
        let excl = walk::Excluder::new(&effective, never)?;
        for step in walk::walk(&effective, excl) {
            match step {
                walk::Step::Error { path, reason } => report.errors.push((path, reason)),
                walk::Step::Entry { path, stat, .. } => {
                    let pbytes = path.as_os_str().as_bytes().to_vec();
                    let s = Stat::from_metadata(&stat);
                    let prev = cursor.as_mut().and_then(|c| c.seek(&pbytes));
                    let racy = s.is_racy(cutoff);
                    let entry = match prev {
                        Some(p) if !racy && p.id.is_some() && s.unchanged(&p.stat) => {
                            report.unchanged += 1;
                            Entry { stat: s, ..p }
                        }
                        _ => Entry {
                            path: pbytes,
                            stat: s,
                            git_mode: 0,
                            id: None,
                            meta: Vec::new(),
                        },
                    };
                    merger.push(&entry)?;
                    report.entries += 1;
                }
            }
        }
    }
    merger.finish()?;
    Ok(report)
}
