//! Applying recorded metadata to a restored filesystem object, and creating
//! the special files (devices, fifos, sockets) that restore cannot write
//! as ordinary files.
//!
//! Order of [`apply`]: ownership, mode, xattrs, POSIX ACLs, atime/mtime,
//! then Linux attr flags last (an immutable or append-only flag would make
//! the earlier steps fail; setting flags does not touch atime/mtime).
//! Problems that leave the object usable (no root for `chown`, a
//! filesystem without xattrs, an unknown ACL user, ...) become
//! [`ApplyWarning`]s; only failures on the object itself are errors.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, futimens, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Group, User};
use thiserror::Error;
use xattr::FileExt;

use super::acl::{self, ACCESS_XATTR, DEFAULT_XATTR, Tag};
use super::capture::is_acl_xattr;
use super::chattr;
use super::record::{FileType, Metadata, Timespec};

/// How to apply metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Use the recorded numeric uid/gid (and numeric ACL qualifiers)
    /// instead of mapping the recorded names to local ids.
    pub numeric_ids: bool,
}

/// Something that could not be applied; the object is otherwise restored.
#[derive(Debug, Error)]
pub enum ApplyWarning {
    /// The metadata has a file type this layer does not know; nothing was
    /// applied.
    #[error("unrecognized file type in mode {mode:#o}; metadata not applied")]
    UnknownType {
        /// The recorded mode.
        mode: u32,
    },
    /// Not running as root, so the owner was left as is.
    #[error("ownership: not root, owner not changed to {uid}:{gid}")]
    OwnershipNotRoot {
        /// The wanted uid (-1: unchanged).
        uid: i64,
        /// The wanted gid (-1: unchanged).
        gid: i64,
    },
    /// `lchown` was refused (e.g. an id the kernel cannot map).
    #[error("ownership: lchown to {uid}:{gid}: {error}")]
    Ownership {
        /// The wanted uid (-1: unchanged).
        uid: i64,
        /// The wanted gid (-1: unchanged).
        gid: i64,
        /// The refusal.
        error: io::Error,
    },
    /// Setting an extended attribute failed.
    #[error("xattr {}: {error}", String::from_utf8_lossy(name))]
    Xattr {
        /// The attribute's name.
        name: Vec<u8>,
        /// The failure.
        error: io::Error,
    },
    /// Removing an extended attribute that the record does not have failed.
    #[error("removing xattr {}: {error}", String::from_utf8_lossy(name))]
    XattrRemove {
        /// The attribute's name.
        name: Vec<u8>,
        /// The failure.
        error: io::Error,
    },
    /// An ACL could not be built from its text or could not be set.
    #[error("{kind} ACL: {reason}")]
    Acl {
        /// `"access"` or `"default"`.
        kind: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Setting the Linux attr flags failed.
    #[error("linux attr flags {flags:#x}: {error}")]
    LinuxAttr {
        /// The recorded flags.
        flags: u64,
        /// The failure.
        error: io::Error,
    },
}

/// A failure on the object itself: it is missing, of the wrong type, or
/// refuses basic changes.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The object could not be `lstat`ed (or vanished during the apply).
    #[error("applying metadata to {}: {step}", path.display())]
    Io {
        /// The object.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The object is not of the type the metadata describes.
    #[error("applying metadata to {}: it is a {found:?}, the metadata describes a {expected:?}", path.display())]
    TypeMismatch {
        /// The object.
        path: PathBuf,
        /// The recorded type.
        expected: FileType,
        /// The type on disk.
        found: FileType,
    },
    /// `lchown` failed for a reason other than lacking permission.
    #[error("applying metadata to {}: lchown to {uid}:{gid}", path.display())]
    Chown {
        /// The object.
        path: PathBuf,
        /// The wanted uid (-1: unchanged).
        uid: i64,
        /// The wanted gid (-1: unchanged).
        gid: i64,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// `chmod` failed.
    #[error("applying metadata to {}: chmod {mode:#o}", path.display())]
    Chmod {
        /// The object.
        path: PathBuf,
        /// The wanted permission bits.
        mode: u32,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// Setting atime/mtime failed.
    #[error("applying metadata to {}: setting atime/mtime", path.display())]
    Times {
        /// The object.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// [`create_special`] was asked for something that is not a device,
    /// fifo or socket.
    #[error("creating {}: a {kind:?} is not a special file", path.display())]
    NotSpecial {
        /// The path.
        path: PathBuf,
        /// The recorded type.
        kind: FileType,
    },
    /// Creating a special file failed.
    #[error("creating {kind:?} {}", path.display())]
    Create {
        /// The path.
        path: PathBuf,
        /// The type being created.
        kind: FileType,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// Applies `meta` to the already-created object at `path` without
/// following a final symlink: ownership (by name unless
/// `opts.numeric_ids`, falling back to the recorded id; only as root),
/// mode (not for symlinks), xattrs (recorded ones set, others removed when
/// the record has any), ACLs, atime/mtime, then Linux attr flags.
///
/// With a recorded ACL, the ACL is set from its text form (names mapped to
/// local ids, unknown names falling back to the numeric form) and the raw
/// `system.posix_acl_*` xattrs are not copied; with `numeric_ids` the raw
/// xattrs are copied when recorded and the numeric text is used otherwise.
///
/// Returns what could not be applied; fails only when the object itself is
/// missing, of another type, or refuses `chmod`/`lchown`/`utimensat`.
pub fn apply(
    meta: &Metadata,
    path: &Path,
    opts: &ApplyOptions,
) -> Result<Vec<ApplyWarning>, ApplyError> {
    Applier::new(*opts).apply(meta, path)
}

/// Applies metadata like [`apply`], caching user and group name → id
/// lookups (each uncached lookup reads the passwd or group database, which
/// would otherwise cost several system calls per restored file).
/// Shareable between threads.
#[derive(Debug)]
pub struct Applier {
    opts: ApplyOptions,
    root: bool,
    users: RwLock<HashMap<Vec<u8>, Option<u32>>>,
    groups: RwLock<HashMap<Vec<u8>, Option<u32>>>,
}

impl Applier {
    /// An applier with empty name caches.
    pub fn new(opts: ApplyOptions) -> Applier {
        Applier {
            opts,
            root: nix::unistd::geteuid().is_root(),
            users: RwLock::default(),
            groups: RwLock::default(),
        }
    }

    /// The options this applier was made with.
    pub fn options(&self) -> ApplyOptions {
        self.opts
    }

    /// The local id of user or group `name` (`tag` [`Tag::User`] or
    /// [`Tag::Group`]), or `None` if there is none.
    fn lookup_id(&self, tag: Tag, name: &[u8]) -> Option<u32> {
        let cache = match tag {
            Tag::User => &self.users,
            Tag::Group => &self.groups,
            _ => return None,
        };
        // A poisoned lock only means another thread panicked mid-insert;
        // the map itself is still a valid cache.
        if let Some(hit) = cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
        {
            return *hit;
        }
        let text = std::str::from_utf8(name).ok()?;
        // Lookup errors (e.g. an unreachable name service) are not cached.
        let found = match tag {
            Tag::User => User::from_name(text).ok()?.map(|u| u.uid.as_raw()),
            _ => Group::from_name(text).ok()?.map(|g| g.gid.as_raw()),
        };
        cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(name.to_vec(), found);
        found
    }

    /// Applies `meta` to the object at `path`; see [`apply`].
    pub fn apply(&self, meta: &Metadata, path: &Path) -> Result<Vec<ApplyWarning>, ApplyError> {
        self.apply_to(meta, &Target { path, file: None })
    }

    /// Applies `meta` to an open file or directory (any open mode) through
    /// its descriptor; `path` only names it in errors. Saves the path
    /// lookups and the extra open that [`Applier::apply`] needs.
    pub fn apply_open(
        &self,
        meta: &Metadata,
        file: &File,
        path: &Path,
    ) -> Result<Vec<ApplyWarning>, ApplyError> {
        self.apply_to(
            meta,
            &Target {
                path,
                file: Some(file),
            },
        )
    }

    fn apply_to(&self, meta: &Metadata, t: &Target<'_>) -> Result<Vec<ApplyWarning>, ApplyError> {
        let path = t.path;
        let opts = &self.opts;
        let mut warnings = Vec::new();
        let expected = meta.file_type();
        if expected == FileType::Unknown {
            warnings.push(ApplyWarning::UnknownType { mode: meta.mode });
            return Ok(warnings);
        }
        let st = t.lstat().map_err(|e| io_error(path, "lstat", e))?;
        let found = FileType::from_mode(st.mode());
        if found != expected {
            return Err(ApplyError::TypeMismatch {
                path: path.to_path_buf(),
                expected,
                found,
            });
        }

        apply_ownership(self, meta, t, &st, &mut warnings)?;

        if found != FileType::Symlink {
            let mode = meta.mode & 0o7777;
            t.chmod(mode).map_err(|source| ApplyError::Chmod {
                path: path.to_path_buf(),
                mode,
                source,
            })?;
        }

        let acl_from_text = meta.acl.is_some()
            && found != FileType::Symlink
            && (!opts.numeric_ids || !meta.xattrs.iter().any(|(n, _)| is_acl_xattr(n)));
        apply_xattrs(meta, t, acl_from_text, &mut warnings)?;
        if acl_from_text {
            apply_acl(self, meta, t, found == FileType::Dir, &mut warnings)?;
        }

        t.set_times(meta.atime, meta.mtime)
            .map_err(|source| ApplyError::Times {
                path: path.to_path_buf(),
                source,
            })?;

        if let Some(flags) = meta.linux_attr.filter(|f| *f != 0)
            && matches!(found, FileType::File | FileType::Dir)
        {
            let result = u32::try_from(flags)
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
                .and_then(|f| t.set_flags(f));
            if let Err(error) = result {
                if error.kind() == io::ErrorKind::NotFound {
                    return Err(io_error(path, "setting linux attr flags", error));
                }
                warnings.push(ApplyWarning::LinuxAttr { flags, error });
            }
        }
        Ok(warnings)
    }
}

/// The object metadata goes to: by path (never following a final symlink)
/// or through an open descriptor.
struct Target<'a> {
    path: &'a Path,
    file: Option<&'a File>,
}

impl Target<'_> {
    fn lstat(&self) -> io::Result<std::fs::Metadata> {
        match self.file {
            Some(f) => f.metadata(),
            None => std::fs::symlink_metadata(self.path),
        }
    }

    fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        match self.file {
            Some(f) => std::os::unix::fs::fchown(f, uid, gid),
            None => std::os::unix::fs::lchown(self.path, uid, gid),
        }
    }

    fn chmod(&self, mode: u32) -> io::Result<()> {
        let perm = Permissions::from_mode(mode);
        match self.file {
            Some(f) => f.set_permissions(perm),
            None => std::fs::set_permissions(self.path, perm),
        }
    }

    fn list_xattrs(&self) -> io::Result<Vec<Vec<u8>>> {
        let names = match self.file {
            Some(f) => f.list_xattr()?,
            None => xattr::list(self.path)?,
        };
        Ok(names
            .map(std::os::unix::ffi::OsStringExt::into_vec)
            .collect())
    }

    fn set_xattr(&self, name: &OsStr, value: &[u8]) -> io::Result<()> {
        match self.file {
            Some(f) => f.set_xattr(name, value),
            None => xattr::set(self.path, name, value),
        }
    }

    fn remove_xattr(&self, name: &OsStr) -> io::Result<()> {
        match self.file {
            Some(f) => f.remove_xattr(name),
            None => xattr::remove(self.path, name),
        }
    }

    fn set_times(&self, atime: Timespec, mtime: Timespec) -> io::Result<()> {
        let (a, m) = (to_nix(atime), to_nix(mtime));
        match self.file {
            Some(f) => futimens(f, &a, &m)?,
            None => utimensat(AT_FDCWD, self.path, &a, &m, UtimensatFlags::NoFollowSymlink)?,
        }
        Ok(())
    }

    fn set_flags(&self, flags: u32) -> io::Result<()> {
        match self.file {
            Some(f) => chattr::set_flags(f, flags),
            None => chattr::set_flags(&chattr::open_for_flags(self.path)?, flags),
        }
    }
}

fn io_error(path: &Path, step: &'static str, source: io::Error) -> ApplyError {
    ApplyError::Io {
        path: path.to_path_buf(),
        step,
        source,
    }
}

fn to_nix(t: Timespec) -> TimeSpec {
    TimeSpec::new(t.sec, i64::from(t.nsec))
}

fn apply_ownership(
    applier: &Applier,
    meta: &Metadata,
    t: &Target<'_>,
    st: &std::fs::Metadata,
    warnings: &mut Vec<ApplyWarning>,
) -> Result<(), ApplyError> {
    let by_name = |tag: Tag, name: &[u8]| {
        if applier.opts.numeric_ids || name.is_empty() {
            return None;
        }
        applier.lookup_id(tag, name)
    };
    let uid = by_name(Tag::User, &meta.user).or_else(|| u32::try_from(meta.uid).ok());
    let gid = by_name(Tag::Group, &meta.group).or_else(|| u32::try_from(meta.gid).ok());
    let shown = |id: Option<u32>| id.map_or(-1, i64::from);

    let uid_differs = uid.is_some_and(|u| u != st.uid());
    let gid_differs = gid.is_some_and(|g| g != st.gid());
    if !uid_differs && !gid_differs {
        return Ok(());
    }
    if !applier.root {
        warnings.push(ApplyWarning::OwnershipNotRoot {
            uid: shown(uid),
            gid: shown(gid),
        });
        return Ok(());
    }
    match t.chown(uid, gid) {
        Ok(()) => Ok(()),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
            warnings.push(ApplyWarning::Ownership {
                uid: shown(uid),
                gid: shown(gid),
                error,
            });
            Ok(())
        }
        Err(source) => Err(ApplyError::Chown {
            path: t.path.to_path_buf(),
            uid: shown(uid),
            gid: shown(gid),
            source,
        }),
    }
}

/// Sets the recorded xattrs and, when the record has any, removes the
/// object's other xattrs (as bup does). ACL xattrs are left to
/// [`apply_acl`] when `acl_from_text`.
fn apply_xattrs(
    meta: &Metadata,
    t: &Target<'_>,
    acl_from_text: bool,
    warnings: &mut Vec<ApplyWarning>,
) -> Result<(), ApplyError> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    let skip = |name: &[u8]| acl_from_text && is_acl_xattr(name);
    let path = t.path;
    let existing: Vec<Vec<u8>> = match t.list_xattrs() {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io_error(path, "listing xattrs", e));
        }
        // Unsupported or refused: setting will report per attribute.
        Err(_) => Vec::new(),
    };
    for (name, value) in &meta.xattrs {
        if skip(name) {
            continue;
        }
        let os_name: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(name);
        if let Err(error) = t.set_xattr(os_name, value) {
            if error.kind() == io::ErrorKind::NotFound {
                return Err(io_error(path, "setting xattrs", error));
            }
            warnings.push(ApplyWarning::Xattr {
                name: name.clone(),
                error,
            });
        }
    }
    for name in existing {
        if skip(&name) || meta.xattrs.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let os_name: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(&name);
        if let Err(error) = t.remove_xattr(os_name) {
            if error.kind() == io::ErrorKind::NotFound {
                return Err(io_error(path, "removing xattrs", error));
            }
            if error.raw_os_error() != Some(libc::ENODATA) {
                warnings.push(ApplyWarning::XattrRemove { name, error });
            }
        }
    }
    Ok(())
}

/// Sets the access ACL and, for directories, the default ACL (or removes
/// an inherited one when none was recorded) from the recorded text.
fn apply_acl(
    applier: &Applier,
    meta: &Metadata,
    t: &Target<'_>,
    is_dir: bool,
    warnings: &mut Vec<ApplyWarning>,
) -> Result<(), ApplyError> {
    let Some(recorded) = &meta.acl else {
        return Ok(());
    };
    let mut parts = vec![(
        "access",
        ACCESS_XATTR,
        &recorded.access_text,
        &recorded.access_numeric,
    )];
    if is_dir {
        parts.push((
            "default",
            DEFAULT_XATTR,
            &recorded.default_text,
            &recorded.default_numeric,
        ));
    }
    for (kind, xattr_name, text, numeric) in parts {
        if text.is_empty() && numeric.is_empty() {
            if kind == "default"
                && let Err(error) = t.remove_xattr(OsStr::new(xattr_name))
                && error.raw_os_error() != Some(libc::ENODATA)
            {
                if error.kind() == io::ErrorKind::NotFound {
                    return Err(io_error(t.path, "removing default ACL", error));
                }
                warnings.push(ApplyWarning::Acl {
                    kind,
                    reason: format!("removing inherited default ACL: {error}"),
                });
            }
            continue;
        }
        let entries = match resolve_acl(applier, text, numeric) {
            Ok(entries) => entries,
            Err(reason) => {
                warnings.push(ApplyWarning::Acl { kind, reason });
                continue;
            }
        };
        if let Err(error) = t.set_xattr(OsStr::new(xattr_name), &acl::to_xattr(&entries)) {
            if error.kind() == io::ErrorKind::NotFound {
                return Err(io_error(t.path, "setting ACL", error));
            }
            warnings.push(ApplyWarning::Acl {
                kind,
                reason: error.to_string(),
            });
        }
    }
    Ok(())
}

/// Turns a recorded ACL into entries with local ids. By name: each
/// qualifier is looked up as a name, then read as a decimal id, then taken
/// from the same entry of the numeric text.
fn resolve_acl(applier: &Applier, text: &[u8], numeric: &[u8]) -> Result<Vec<acl::Entry>, String> {
    let numeric_ids = applier.opts.numeric_ids;
    let numeric_entries = acl::parse_text(numeric).map_err(|e| e.to_string());
    let primary = if numeric_ids || text.is_empty() {
        numeric_entries.clone()?
    } else {
        acl::parse_text(text).map_err(|e| e.to_string())?
    };
    let numeric_entries = numeric_entries.ok();
    primary
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let id = if entry.tag.has_qualifier() {
                let by_name = if numeric_ids {
                    None
                } else {
                    applier.lookup_id(entry.tag, &entry.qualifier)
                };
                by_name
                    .or_else(|| parse_id(&entry.qualifier))
                    .or_else(|| {
                        let n = numeric_entries.as_ref()?.get(i)?;
                        (n.tag == entry.tag).then(|| parse_id(&n.qualifier))?
                    })
                    .ok_or_else(|| {
                        format!(
                            "unknown {} {:?}",
                            if entry.tag == Tag::User {
                                "user"
                            } else {
                                "group"
                            },
                            String::from_utf8_lossy(&entry.qualifier)
                        )
                    })?
            } else {
                u32::MAX
            };
            Ok(acl::Entry {
                tag: entry.tag,
                id,
                perm: entry.perm,
            })
        })
        .collect()
}

fn parse_id(qualifier: &[u8]) -> Option<u32> {
    std::str::from_utf8(qualifier).ok()?.parse().ok()
}

/// Creates the special file `meta` describes at `path`: a character or
/// block device (with the recorded `rdev`), a fifo, or a unix-domain
/// socket (made with `mknod`, which Linux allows unprivileged for sockets
/// and which has no socket-path length limit). Permission bits are
/// provisional; [`apply`] sets the final mode.
pub fn create_special(meta: &Metadata, path: &Path) -> Result<(), ApplyError> {
    let kind = meta.file_type();
    let (flag, dev) = match kind {
        FileType::CharDev => (SFlag::S_IFCHR, meta.rdev),
        FileType::BlockDev => (SFlag::S_IFBLK, meta.rdev),
        FileType::Fifo => (SFlag::S_IFIFO, 0),
        FileType::Socket => (SFlag::S_IFSOCK, 0),
        _ => {
            return Err(ApplyError::NotSpecial {
                path: path.to_path_buf(),
                kind,
            });
        }
    };
    let perm = Mode::from_bits_truncate((meta.mode & 0o777) as libc::mode_t);
    mknod(path, flag, perm, dev).map_err(|e| ApplyError::Create {
        path: path.to_path_buf(),
        kind,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::capture::Capturer;
    use crate::meta::record::Acl;
    use std::ffi::OsStr;
    use std::process::Command;

    fn tool(name: &str, args: &[&OsStr]) {
        let out = Command::new(name)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e} (is it installed?)"));
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    /// Creates a fresh object for the given metadata at the given path.
    type Create<'a> = &'a dyn Fn(&Metadata, &Path);

    fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) {
        utimensat(
            AT_FDCWD,
            path,
            &TimeSpec::new(atime.0, atime.1),
            &TimeSpec::new(mtime.0, mtime.1),
            UtimensatFlags::NoFollowSymlink,
        )
        .expect("utimensat");
    }

    fn user_id(name: &str) -> u32 {
        User::from_name(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("user {name} exists"))
            .uid
            .as_raw()
    }

    fn group_id(name: &str) -> u32 {
        Group::from_name(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("group {name} exists"))
            .gid
            .as_raw()
    }

    /// Captures `src`, creates a fresh `dst` with `create`, applies the
    /// captured metadata, captures `dst` and returns both (ctime, which
    /// cannot be set, copied over).
    fn round_trip(
        src: &Path,
        dst: &Path,
        create: impl FnOnce(&Metadata, &Path),
    ) -> (Metadata, Metadata, Vec<ApplyWarning>) {
        let capturer = Capturer::new();
        let before = capturer.capture_path(src).expect("capture src");
        create(&before, dst);
        let warnings = apply(&before, dst, &ApplyOptions::default()).expect("apply");
        let mut after = capturer.capture_path(dst).expect("capture dst");
        after.ctime = before.ctime;
        (before, after, warnings)
    }

    #[test]
    fn apply_restores_what_capture_saw() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        std::fs::create_dir(&src).expect("mkdir");
        std::fs::create_dir(&dst).expect("mkdir");
        let s = |n: &str| src.join(n);
        let d = |n: &str| dst.join(n);
        let new_file = |_: &Metadata, p: &Path| std::fs::write(p, b"x").expect("create file");
        let new_dir = |_: &Metadata, p: &Path| std::fs::create_dir(p).expect("create dir");
        let special = |m: &Metadata, p: &Path| create_special(m, p).expect("create special");

        // setuid file with xattrs, an ACL, attr flags and ns times.
        std::fs::write(s("suid"), b"x").expect("write");
        std::fs::set_permissions(s("suid"), Permissions::from_mode(0o4755)).expect("chmod");
        tool(
            "setfattr",
            &[
                os("-n"),
                os("user.a"),
                os("-v"),
                os("1"),
                s("suid").as_os_str(),
            ],
        );
        tool(
            "setfattr",
            &[
                os("-n"),
                os("trusted.b"),
                os("-v"),
                os("0x0001ff"),
                s("suid").as_os_str(),
            ],
        );
        tool(
            "setfacl",
            &[os("-m"), os("u:nobody:r,g:12345:rw"), s("suid").as_os_str()],
        );
        tool("chattr", &[os("+A"), s("suid").as_os_str()]);
        std::os::unix::fs::lchown(s("suid"), Some(4242), Some(4343)).expect("chown");
        // chown clears setuid; set it again after.
        std::fs::set_permissions(s("suid"), Permissions::from_mode(0o4755)).expect("chmod");
        set_times(
            &s("suid"),
            (1_600_000_000, 123_456_789),
            (1_500_000_000, 987_654_321),
        );

        // setgid dir with access and default ACLs; sticky dir.
        std::fs::create_dir(s("sgid")).expect("mkdir");
        std::fs::set_permissions(s("sgid"), Permissions::from_mode(0o2755)).expect("chmod");
        tool(
            "setfacl",
            &[
                os("-m"),
                os("u:nobody:rwx,d:g:daemon:r-x"),
                s("sgid").as_os_str(),
            ],
        );
        set_times(&s("sgid"), (1_000, 1), (-1_000, 999_999_999));
        std::fs::create_dir(s("sticky")).expect("mkdir");
        std::fs::set_permissions(s("sticky"), Permissions::from_mode(0o1777)).expect("chmod");

        // Symlink with a trusted xattr and its own times.
        std::os::unix::fs::symlink("suid", s("link")).expect("symlink");
        tool(
            "setfattr",
            &[
                os("-h"),
                os("-n"),
                os("trusted.l"),
                os("-v"),
                os("v"),
                s("link").as_os_str(),
            ],
        );
        std::os::unix::fs::lchown(s("link"), Some(4242), None).expect("lchown");
        set_times(&s("link"), (2_000, 2), (3_000, 3));

        // Special files.
        nix::unistd::mkfifo(&s("fifo"), Mode::from_bits_truncate(0o640)).expect("mkfifo");
        tool(
            "setfacl",
            &[os("-m"), os("u:nobody:rw"), s("fifo").as_os_str()],
        );
        mknod(
            &s("chardev"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o620),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod (tests run as root)");
        mknod(
            &s("blockdev"),
            SFlag::S_IFBLK,
            Mode::from_bits_truncate(0o660),
            nix::sys::stat::makedev(7, 0),
        )
        .expect("mknod");
        mknod(
            &s("sock"),
            SFlag::S_IFSOCK,
            Mode::from_bits_truncate(0o755),
            0,
        )
        .expect("mknod");

        let cases: [(&str, Create<'_>); 8] = [
            ("suid", &new_file),
            ("sgid", &new_dir),
            ("sticky", &new_dir),
            ("link", &|_, p| {
                std::os::unix::fs::symlink("suid", p).expect("symlink")
            }),
            ("fifo", &special),
            ("chardev", &special),
            ("blockdev", &special),
            ("sock", &special),
        ];
        for (name, create) in cases {
            let (before, after, warnings) = round_trip(&s(name), &d(name), create);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            assert_eq!(after, before, "{name}");
        }

        // The same through open descriptors, as restore does for the files
        // it writes (a write-only file; a directory).
        let applier = Applier::new(ApplyOptions::default());
        let capturer = Capturer::new();
        for (name, is_dir) in [("suid", false), ("sgid", true)] {
            let before = capturer.capture_path(&s(name)).expect("capture src");
            let p = tmp.path().join(format!("open-{name}"));
            let f = if is_dir {
                std::fs::create_dir(&p).expect("mkdir");
                File::open(&p).expect("open dir")
            } else {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&p)
                    .expect("create");
                std::io::Write::write_all(&mut f, b"x").expect("write");
                f
            };
            let warnings = applier.apply_open(&before, &f, &p).expect("apply_open");
            drop(f);
            assert!(warnings.is_empty(), "{name} via fd: {warnings:?}");
            let mut after = capturer.capture_path(&p).expect("capture");
            after.ctime = before.ctime;
            assert_eq!(after, before, "{name} via fd");
        }

        // The round trip covered what it was meant to.
        let suid = Capturer::new().capture_path(&d("suid")).expect("capture");
        assert_eq!(suid.mode, 0o104755);
        assert_eq!((suid.uid, suid.gid), (4242, 4343));
        assert_eq!(
            suid.mtime,
            Timespec {
                sec: 1_500_000_000,
                nsec: 987_654_321
            }
        );
        assert_eq!(
            suid.atime,
            Timespec {
                sec: 1_600_000_000,
                nsec: 123_456_789
            }
        );
        assert!(suid.acl.is_some());
        assert_eq!(suid.linux_attr.map(|f| f & 0x80), Some(0x80));
        let sgid = Capturer::new().capture_path(&d("sgid")).expect("capture");
        assert_eq!(sgid.mode & 0o7777, 0o2775);
        assert!(sgid.acl.is_some_and(|a| !a.default_text.is_empty()));
        assert_eq!(
            sgid.mtime,
            Timespec {
                sec: -1_000,
                nsec: 999_999_999
            }
        );
        let chardev = Capturer::new()
            .capture_path(&d("chardev"))
            .expect("capture");
        assert_eq!(chardev.rdev, nix::sys::stat::makedev(1, 3));
    }

    #[test]
    fn ownership_maps_names_unless_numeric() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").expect("write");
        let mut meta = Capturer::new().capture_path(&path).expect("capture");
        let owner = |meta: &Metadata, numeric_ids: bool| {
            let warnings = apply(meta, &path, &ApplyOptions { numeric_ids }).expect("apply");
            assert!(warnings.is_empty(), "{warnings:?}");
            let st = std::fs::symlink_metadata(&path).expect("lstat");
            (st.uid(), st.gid())
        };

        meta.uid = 4242;
        meta.user = b"nobody".to_vec();
        meta.gid = 4343;
        meta.group = b"daemon".to_vec();
        assert_eq!(owner(&meta, false), (user_id("nobody"), group_id("daemon")));
        assert_eq!(owner(&meta, true), (4242, 4343));

        meta.user = b"no-such-user-for-backup-tests".to_vec();
        meta.group = b"no-such-group-for-backup-tests".to_vec();
        assert_eq!(owner(&meta, false), (4242, 4343));

        meta.user.clear();
        meta.group.clear();
        meta.uid = 4444;
        meta.gid = -1;
        assert_eq!(owner(&meta, false), (4444, 4343));
    }

    #[test]
    fn git_mode_defaults_leave_owner_and_set_epoch_mtime() {
        // Spec §4.5: entries without metadata restore with the default
        // mode and mtime 1970-01-01.
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").expect("write");
        std::fs::set_permissions(&path, Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::lchown(&path, Some(4242), Some(4343)).expect("chown");
        let meta = Metadata::default_for_git_mode(0o100755).expect("file default");
        let warnings = apply(&meta, &path, &ApplyOptions::default()).expect("apply");
        assert!(warnings.is_empty(), "{warnings:?}");
        let st = std::fs::symlink_metadata(&path).expect("lstat");
        assert_eq!(st.mode(), 0o100644);
        assert_eq!((st.uid(), st.gid()), (4242, 4343));
        assert_eq!((st.mtime(), st.mtime_nsec()), (0, 0));
    }

    #[test]
    fn acl_text_maps_names_and_falls_back_to_ids() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").expect("write");
        let base = Capturer::new().capture_path(&path).expect("capture");
        let nobody = user_id("nobody");
        let acl_numeric_after = |text: &[u8], numeric: &[u8], numeric_ids: bool| {
            let meta = Metadata {
                acl: Some(Acl {
                    access_text: text.to_vec(),
                    access_numeric: numeric.to_vec(),
                    ..Acl::default()
                }),
                ..base.clone()
            };
            let warnings = apply(&meta, &path, &ApplyOptions { numeric_ids }).expect("apply");
            assert!(warnings.is_empty(), "{warnings:?}");
            let after = Capturer::new().capture_path(&path).expect("capture");
            String::from_utf8(after.acl.expect("ACL applied").access_numeric).expect("ascii")
        };
        let text = b"u::rw-,u:nobody:r--,g::r--,m::r--,o::r--";
        let numeric = b"u::rw-,u:4242:r--,g::r--,m::r--,o::r--";
        assert_eq!(
            acl_numeric_after(text, numeric, false),
            format!("u::rw-,u:{nobody}:r--,g::r--,m::r--,o::r--")
        );
        assert_eq!(
            acl_numeric_after(text, numeric, true),
            "u::rw-,u:4242:r--,g::r--,m::r--,o::r--"
        );
        let unknown = b"u::rw-,u:no-such-user-for-backup-tests:r--,g::r--,m::r--,o::r--";
        assert_eq!(
            acl_numeric_after(unknown, numeric, false),
            "u::rw-,u:4242:r--,g::r--,m::r--,o::r--"
        );
        // Cross-check with the real getfacl.
        let out = Command::new("getfacl")
            .args(["-c", "-n", "-E"])
            .arg(&path)
            .output()
            .expect("getfacl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "user::rw-\nuser:4242:r--\ngroup::r--\nmask::r--\nother::r--\n\n"
        );
    }

    #[test]
    fn inherited_acls_and_extra_xattrs_are_replaced() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let parent = tmp.path().join("parent");
        std::fs::create_dir(&parent).expect("mkdir");
        tool(
            "setfacl",
            &[os("-d"), os("-m"), os("u:nobody:rwx"), parent.as_os_str()],
        );

        // A directory recorded with an access ACL only: the default ACL it
        // inherits on creation must go.
        let src = tmp.path().join("src_dir");
        std::fs::create_dir(&src).expect("mkdir");
        tool("setfacl", &[os("-m"), os("g:daemon:rwx"), src.as_os_str()]);
        let meta = Capturer::new().capture_path(&src).expect("capture");
        let dst = parent.join("dir");
        std::fs::create_dir(&dst).expect("mkdir");
        assert!(xattr::get(&dst, DEFAULT_XATTR).expect("getxattr").is_some());
        let warnings = apply(&meta, &dst, &ApplyOptions::default()).expect("apply");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(xattr::get(&dst, DEFAULT_XATTR).expect("getxattr"), None);
        let mut after = Capturer::new().capture_path(&dst).expect("capture");
        after.ctime = meta.ctime;
        after.atime = meta.atime;
        assert_eq!(after, meta);

        // A file recorded with xattrs but no ACL: the inherited ACL and
        // an unrecorded xattr are removed.
        let src = tmp.path().join("src_file");
        std::fs::write(&src, b"").expect("write");
        tool(
            "setfattr",
            &[
                os("-n"),
                os("user.keep"),
                os("-v"),
                os("k"),
                src.as_os_str(),
            ],
        );
        let meta = Capturer::new().capture_path(&src).expect("capture");
        let dst = parent.join("file");
        std::fs::write(&dst, b"").expect("write");
        tool(
            "setfattr",
            &[
                os("-n"),
                os("user.extra"),
                os("-v"),
                os("e"),
                dst.as_os_str(),
            ],
        );
        assert!(xattr::get(&dst, ACCESS_XATTR).expect("getxattr").is_some());
        let warnings = apply(&meta, &dst, &ApplyOptions::default()).expect("apply");
        assert!(warnings.is_empty(), "{warnings:?}");
        let after = Capturer::new().capture_path(&dst).expect("capture");
        assert_eq!(after.xattrs, vec![(b"user.keep".to_vec(), b"k".to_vec())]);
        assert_eq!(after.acl, None);
        assert_eq!(after.mode, meta.mode);
    }

    #[test]
    fn times_survive_an_immutable_flag() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        std::fs::write(&src, b"i").expect("write");
        set_times(&src, (1_234, 5), (6_789, 10));
        tool("chattr", &[os("+i"), src.as_os_str()]);
        let meta = Capturer::new().capture_path(&src);
        tool("chattr", &[os("-i"), src.as_os_str()]);
        let meta = meta.expect("capture");
        assert_eq!(meta.linux_attr.map(|f| f & 0x10), Some(0x10));

        std::fs::write(&dst, b"i").expect("write");
        let warnings = apply(&meta, &dst, &ApplyOptions::default());
        let after = Capturer::new().capture_path(&dst);
        tool("chattr", &[os("-i"), dst.as_os_str()]);
        assert!(warnings.expect("apply").is_empty());
        let after = after.expect("capture");
        assert_eq!(after.linux_attr, meta.linux_attr);
        assert_eq!((after.atime, after.mtime), (meta.atime, meta.mtime));
    }

    #[test]
    fn sockets_need_no_short_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Longer than sun_path (108 bytes), which bind() could not use.
        let path = tmp.path().join("s".repeat(150));
        let meta = Metadata {
            mode: 0o140755,
            ..Metadata::default()
        };
        create_special(&meta, &path).expect("create socket");
        let st = std::fs::symlink_metadata(&path).expect("lstat");
        assert_eq!(FileType::from_mode(st.mode()), FileType::Socket);
    }

    #[test]
    fn refusals_become_warnings_and_type_mismatch_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("nowhere", &link).expect("symlink");
        let mut meta = Capturer::new().capture_path(&link).expect("capture");
        // Linux refuses user.* xattrs on symlinks.
        meta.xattrs = vec![(b"user.x".to_vec(), b"1".to_vec())];
        let warnings = apply(&meta, &link, &ApplyOptions::default()).expect("apply");
        assert!(
            matches!(warnings.as_slice(), [ApplyWarning::Xattr { name, .. }] if name == b"user.x"),
            "{warnings:?}"
        );
        assert!(warnings[0].to_string().starts_with("xattr user.x: "));

        let file = tmp.path().join("file");
        std::fs::write(&file, b"").expect("write");
        let err =
            apply(&meta, &file, &ApplyOptions::default()).expect_err("symlink meta on a file");
        assert!(matches!(
            err,
            ApplyError::TypeMismatch {
                expected: FileType::Symlink,
                found: FileType::File,
                ..
            }
        ));

        let missing = tmp.path().join("missing");
        let err = apply(&meta, &missing, &ApplyOptions::default()).expect_err("missing");
        assert!(matches!(err, ApplyError::Io { step: "lstat", .. }));

        let err = create_special(&meta, &tmp.path().join("x")).expect_err("not special");
        assert!(matches!(
            err,
            ApplyError::NotSpecial {
                kind: FileType::Symlink,
                ..
            }
        ));
    }
}
