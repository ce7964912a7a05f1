//! Branch refs: one `refs/heads/<name>` per backup name.
//!
//! Reads handle loose refs and `packed-refs` (through libgit2). Updates are
//! compare-and-swap under git's `<ref>.lock` protocol, fsynced (libgit2 with
//! `GIT_OPT_ENABLE_FSYNC_GITDIR`, set in [`super::Repo::open`]), and logged to
//! the reflog because `core.logAllRefUpdates` is on.

use super::Repo;
use crate::oid::ObjectId;

/// Errors reading or moving refs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backup name is not acceptable to bup/git.
    #[error("invalid backup name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The ref moved since it was read (another writer won the race).
    #[error(
        "{refname} was changed by another writer during this run (expected {expected}); nothing was lost, run again"
    )]
    Moved {
        /// The ref.
        refname: String,
        /// What we expected it to hold.
        expected: String,
    },
    /// libgit2 failed.
    #[error("ref {refname}: {source}")]
    Git {
        /// The ref.
        refname: String,
        /// The cause.
        source: git2::Error,
    },
    /// The repository could not be opened by libgit2.
    #[error(transparent)]
    Repo(#[from] Box<super::Error>),
}

/// Check a backup (branch) name against bup's rules (bup-format.md §1.7).
/// We also refuse `/`, which bup allows but shows oddly.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |why| {
        Err(Error::InvalidName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "@" {
        return bad("`@` is reserved by git");
    }
    if name.contains('/') {
        return bad("it contains `/` (use `-` or `_`)");
    }
    if name.ends_with('.') {
        return bad("it ends with `.`");
    }
    if name.starts_with('.') {
        return bad("it starts with `.`");
    }
    if name.ends_with(".lock") {
        return bad("it ends with `.lock`");
    }
    if name.contains("..") || name.contains("@{") {
        return bad("it contains `..` or `@{`");
    }
    if name
        .bytes()
        .any(|c| c < 0x20 || c == 0x7f || b"[ ~^:?*\\".contains(&c))
    {
        return bad("it contains a space, a control character or one of [~^:?*\\");
    }
    Ok(())
}

/// `refs/heads/<name>`.
pub fn branch_ref(name: &str) -> String {
    format!("refs/heads/{name}")
}

fn to_oid(id: &ObjectId) -> git2::Oid {
    // 20 bytes always make a valid SHA-1 Oid.
    git2::Oid::from_bytes(id.as_bytes()).unwrap_or(git2::Oid::ZERO_SHA1)
}

fn from_oid(oid: git2::Oid) -> Option<ObjectId> {
    ObjectId::from_slice(oid.as_bytes())
}

/// The object a ref points at, or `None` if the ref does not exist.
pub fn read_ref(repo: &Repo, refname: &str) -> Result<Option<ObjectId>, Error> {
    let git = repo.git().map_err(Box::new)?;
    match git.find_reference(refname) {
        Ok(r) => Ok(r.target().and_then(from_oid)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(source) => Err(Error::Git {
            refname: refname.to_string(),
            source,
        }),
    }
}

/// All branches (`refs/heads/*`) and their tips, sorted by name.
pub fn list_branches(repo: &Repo) -> Result<Vec<(String, ObjectId)>, Error> {
    list_refs(repo, "refs/heads/")
}

/// All refs under `prefix` (ending in `/`), names without the prefix, sorted.
/// Symbolic refs are skipped; annotated tags give the tag object's id.
pub fn list_refs(repo: &Repo, prefix: &str) -> Result<Vec<(String, ObjectId)>, Error> {
    let git = repo.git().map_err(Box::new)?;
    let glob = format!("{prefix}*");
    let err = |source| Error::Git {
        refname: glob.clone(),
        source,
    };
    let mut out = Vec::new();
    for r in git.references_glob(&glob).map_err(err)? {
        let r = r.map_err(err)?;
        let (Ok(name), Some(target)) = (r.name(), r.target()) else {
            continue;
        };
        if let (Some(short), Some(id)) = (name.strip_prefix(prefix), from_oid(target)) {
            out.push((short.to_string(), id));
        }
    }
    out.sort();
    Ok(out)
}

/// Move `refname` from `expected` (`None`: must not exist yet) to `new`.
///
/// Fails with [`Error::Moved`] and changes nothing if the ref does not hold
/// `expected` at the moment of the update.
pub fn update_ref(
    repo: &Repo,
    refname: &str,
    new: ObjectId,
    expected: Option<ObjectId>,
    message: &str,
) -> Result<(), Error> {
    let git = repo.git().map_err(Box::new)?;
    let result = match expected {
        None => git.reference(refname, to_oid(&new), false, message),
        Some(old) => git.reference_matching(refname, to_oid(&new), true, to_oid(&old), message),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::Modified | git2::ErrorCode::Exists
            ) =>
        {
            Err(Error::Moved {
                refname: refname.to_string(),
                expected: expected.map_or_else(|| "no ref".into(), |o| o.to_hex()),
            })
        }
        Err(e) if expected.is_some() && e.code() == git2::ErrorCode::NotFound => {
            Err(Error::Moved {
                refname: refname.to_string(),
                expected: expected.map_or_else(|| "no ref".into(), |o| o.to_hex()),
            })
        }
        Err(source) => Err(Error::Git {
            refname: refname.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Store `data` as a real object with git, so libgit2 accepts refs to it.
    fn git_object(repo: &Repo, data: &str) -> ObjectId {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo.path())
            .args(["hash-object", "-w", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(data.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        ObjectId::from_hex(String::from_utf8_lossy(&out.stdout).trim().as_bytes()).unwrap()
    }

    #[test]
    fn names_follow_bups_rules() {
        for ok in ["etc", "mysql-bugs", "a_b.c", "host1-home"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "", "@", "a/b", "x.", ".x", "a.lock", "a..b", "a@{1", "a b", "a:b", "a\x01", "a*",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn compare_and_swap_refuses_a_moved_ref() {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("r"), None).unwrap();
        let a = git_object(&repo, "a");
        let b = git_object(&repo, "b");
        let c = git_object(&repo, "c");
        let r = "refs/heads/t";
        assert_eq!(read_ref(&repo, r).unwrap(), None);
        update_ref(&repo, r, a, None, "first").unwrap();
        // Creating again must fail: it exists.
        assert!(matches!(
            update_ref(&repo, r, b, None, "x"),
            Err(Error::Moved { .. })
        ));
        // Wrong expectation: refused, ref unchanged.
        assert!(matches!(
            update_ref(&repo, r, c, Some(b), "x"),
            Err(Error::Moved { .. })
        ));
        assert_eq!(read_ref(&repo, r).unwrap(), Some(a));
        update_ref(&repo, r, b, Some(a), "second").unwrap();
        assert_eq!(read_ref(&repo, r).unwrap(), Some(b));
        assert_eq!(list_branches(&repo).unwrap(), vec![("t".to_string(), b)]);
        // Reflog written (core.logAllRefUpdates).
        let log = std::fs::read_to_string(repo.path().join("logs/refs/heads/t")).unwrap();
        assert_eq!(log.lines().count(), 2);
    }

    #[test]
    fn packed_refs_are_read() {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("r"), None).unwrap();
        let a = git_object(&repo, "a");
        std::fs::write(
            repo.path().join("packed-refs"),
            format!(
                "# pack-refs with: peeled fully-peeled sorted \n{} refs/heads/old\n",
                a.to_hex()
            ),
        )
        .unwrap();
        assert_eq!(read_ref(&repo, "refs/heads/old").unwrap(), Some(a));
    }
}
