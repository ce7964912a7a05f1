//! Capturing a filesystem object's metadata the way `bup save` records it
//! (spec §4.3–4.4): stat fields, owner and group names, symlink target,
//! Linux attr flags, xattrs in `listxattr` order and, for files with an
//! extended POSIX ACL, its text forms.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use nix::unistd::{Gid, Group, Uid, User};
use thiserror::Error;

use super::acl::{self, ACCESS_XATTR, DEFAULT_XATTR, Tag};
use super::chattr;
use super::record::{Acl, FileType, Metadata, Timespec};

/// The step of a capture that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureStep {
    /// `lstat` of the path.
    Lstat,
    /// Reading a symlink's target.
    Readlink,
    /// Listing or reading extended attributes.
    Xattr,
    /// Opening the object or reading its Linux attr flags (ioctl).
    LinuxAttr,
    /// Decoding the ACL xattrs.
    Acl,
}

impl fmt::Display for CaptureStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CaptureStep::Lstat => "lstat",
            CaptureStep::Readlink => "readlink",
            CaptureStep::Xattr => "reading xattrs",
            CaptureStep::LinuxAttr => "reading linux attr flags",
            CaptureStep::Acl => "decoding ACL",
        })
    }
}

/// Capturing metadata failed: which path, which step, and why.
#[derive(Debug, Error)]
#[error("capturing metadata of {}: {step}", path.display())]
pub struct CaptureError {
    /// The object whose metadata was being captured.
    pub path: PathBuf,
    /// The step that failed.
    pub step: CaptureStep,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl CaptureError {
    fn new(path: &Path, step: CaptureStep, source: io::Error) -> CaptureError {
        CaptureError {
            path: path.to_path_buf(),
            step,
            source,
        }
    }

    /// Whether the object vanished (`ENOENT`) — typically deleted between
    /// the directory listing and the capture.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// Captures metadata; caches uid → user name and gid → group name lookups.
/// Shareable between threads.
#[derive(Debug, Default)]
pub struct Capturer {
    users: RwLock<HashMap<u32, Option<Vec<u8>>>>,
    groups: RwLock<HashMap<u32, Option<Vec<u8>>>>,
}

impl Capturer {
    /// A capturer with empty name caches.
    pub fn new() -> Capturer {
        Capturer::default()
    }

    /// The name of user `uid`, or `None` if the passwd database has none.
    pub fn user_name(&self, uid: u32) -> Option<Vec<u8>> {
        cached_lookup(&self.users, uid, |id| {
            User::from_uid(Uid::from_raw(id)).map(|u| u.map(|u| u.name.into_bytes()))
        })
    }

    /// The name of group `gid`, or `None` if the group database has none.
    pub fn group_name(&self, gid: u32) -> Option<Vec<u8>> {
        cached_lookup(&self.groups, gid, |id| {
            Group::from_gid(Gid::from_raw(id)).map(|g| g.map(|g| g.name.into_bytes()))
        })
    }

    /// `lstat`s `path` and captures its metadata (see [`Capturer::capture`]).
    pub fn capture_path(&self, path: &Path) -> Result<Metadata, CaptureError> {
        let st = std::fs::symlink_metadata(path)
            .map_err(|e| CaptureError::new(path, CaptureStep::Lstat, e))?;
        self.capture(path, &st)
    }

    /// Metadata of the filesystem object at `path` (a final symlink is not
    /// followed), given its `lstat` result `st`.
    ///
    /// `size` is `st_size` for regular files (the caller may overwrite it
    /// with the number of bytes actually read), the target length for
    /// symlinks, and `None` otherwise. `hardlink_target` is left `None`:
    /// only the caller knows the hard-link sets.
    pub fn capture(&self, path: &Path, st: &std::fs::Metadata) -> Result<Metadata, CaptureError> {
        let mode = st.mode();
        let file_type = super::record::FileType::from_mode(mode);
        let mut meta = Metadata {
            mode,
            uid: i64::from(st.uid()),
            user: self.user_name(st.uid()).unwrap_or_default(),
            gid: i64::from(st.gid()),
            group: self.group_name(st.gid()).unwrap_or_default(),
            rdev: match file_type {
                FileType::CharDev | FileType::BlockDev => st.rdev(),
                _ => 0,
            },
            atime: timespec(st.atime(), st.atime_nsec()),
            mtime: timespec(st.mtime(), st.mtime_nsec()),
            ctime: timespec(st.ctime(), st.ctime_nsec()),
            size: match file_type {
                FileType::File => Some(st.size()),
                _ => None,
            },
            ..Metadata::default()
        };

        if file_type == FileType::Symlink {
            let target = std::fs::read_link(path)
                .map_err(|e| CaptureError::new(path, CaptureStep::Readlink, e))?
                .into_os_string()
                .into_vec();
            meta.size = Some(target.len() as u64);
            meta.symlink_target = Some(target);
        }

        if matches!(file_type, FileType::File | FileType::Dir) {
            meta.linux_attr = read_linux_attr(path)
                .map_err(|e| CaptureError::new(path, CaptureStep::LinuxAttr, e))?
                .filter(|flags| *flags != 0)
                .map(u64::from);
        }

        meta.xattrs =
            read_xattrs(path).map_err(|e| CaptureError::new(path, CaptureStep::Xattr, e))?;

        if file_type != FileType::Symlink {
            meta.acl = self
                .acl_from_xattrs(&meta.xattrs, mode, file_type == FileType::Dir)
                .map_err(|e| {
                    CaptureError::new(
                        path,
                        CaptureStep::Acl,
                        io::Error::new(io::ErrorKind::InvalidData, e),
                    )
                })?;
        }
        Ok(meta)
    }

    /// The ACL bup records for an object with these xattrs: `None` unless
    /// the object has an extended ACL (an access ACL beyond the three base
    /// entries, or, for a directory, a default ACL), as libacl's
    /// `acl_extended_file` decides.
    fn acl_from_xattrs(
        &self,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        mode: u32,
        is_dir: bool,
    ) -> Result<Option<Acl>, acl::AclError> {
        let find = |name: &str| {
            xattrs
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| v.as_slice())
        };
        let access = find(ACCESS_XATTR).map(acl::parse_xattr).transpose()?;
        let default = if is_dir {
            find(DEFAULT_XATTR).map(acl::parse_xattr).transpose()?
        } else {
            None
        };
        let extended = access.as_ref().is_some_and(|a| a.len() > 3)
            || default.as_ref().is_some_and(|d| !d.is_empty());
        if !extended {
            return Ok(None);
        }
        let access = access.unwrap_or_else(|| acl::from_mode(mode));
        let names = |tag: Tag, id: u32| match tag {
            Tag::User => self.user_name(id),
            Tag::Group => self.group_name(id),
            _ => None,
        };
        let mut result = Acl {
            access_text: acl::to_text(&access, names),
            access_numeric: acl::to_text(&access, |_, _| None),
            ..Acl::default()
        };
        if let Some(default) = default {
            result.default_text = acl::to_text(&default, names);
            result.default_numeric = acl::to_text(&default, |_, _| None);
        }
        Ok(Some(result))
    }
}

fn cached_lookup(
    cache: &RwLock<HashMap<u32, Option<Vec<u8>>>>,
    id: u32,
    lookup: impl FnOnce(u32) -> nix::Result<Option<Vec<u8>>>,
) -> Option<Vec<u8>> {
    // A poisoned lock only means another thread panicked mid-insert; the
    // map itself is still a valid cache.
    if let Some(hit) = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&id)
    {
        return hit.clone();
    }
    // Lookup errors (e.g. an unreachable name service) are not cached.
    let found = lookup(id).ok()?;
    cache
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id, found.clone());
    found
}

/// A timespec from `lstat`'s seconds and nanoseconds, normalized to floor
/// semantics (the kernel already reports it that way).
fn timespec(sec: i64, nsec: i64) -> Timespec {
    Timespec::normalized(sec, nsec).unwrap_or(Timespec { sec, nsec: 0 })
}

/// The Linux attr flags of a regular file or directory; `None` when the
/// filesystem has none or refuses to say.
fn read_linux_attr(path: &Path) -> io::Result<Option<u32>> {
    let file = chattr::open_for_flags(path)?;
    match chattr::get_flags(&file) {
        Ok(flags) => Ok(Some(flags)),
        Err(e) if chattr::is_unsupported(&e) || e.raw_os_error() == Some(libc::EPERM) => Ok(None),
        Err(e) => Err(e),
    }
}

/// All extended attributes of `path` (not following a final symlink), in
/// `listxattr` order; empty when the filesystem does not support them.
fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if is_xattr_unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        match xattr::get(path, &name) {
            Ok(Some(value)) => out.push((name.into_vec(), value)),
            // Removed between list and get.
            Ok(None) => {}
            Err(e) if is_xattr_unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn is_xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS))
}

/// Whether a recorded xattr name is one of the two POSIX ACL xattrs.
pub(crate) fn is_acl_xattr(name: &[u8]) -> bool {
    let name = OsStr::from_bytes(name);
    name == ACCESS_XATTR || name == DEFAULT_XATTR
}
