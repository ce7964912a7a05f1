//! Linux file attribute flags (`lsattr`/`chattr`): reading and setting
//! them with the `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` ioctls. The only
//! unsafe code of the metadata layer lives here.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` read-only without following a final symlink, without
/// blocking on fifos and, when permitted, without updating its atime.
pub(crate) fn open_for_flags(path: &Path) -> io::Result<File> {
    let base = libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match OpenOptions::new()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        // O_NOATIME needs ownership or CAP_FOWNER; retry without it.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            OpenOptions::new().read(true).custom_flags(base).open(path)
        }
        other => other,
    }
}

/// Whether an ioctl error means "this filesystem or file has no attr
/// flags" rather than a real failure.
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
    )
}

/// Reads the attribute flags of an open file or directory.
#[allow(unsafe_code)]
pub(crate) fn get_flags(file: &File) -> io::Result<u32> {
    let mut flags: libc::c_int = 0;
    // SAFETY: `file` is an open descriptor for the duration of the call and
    // FS_IOC_GETFLAGS writes exactly one `int` through the pointer, which
    // points to a live, writable `c_int`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags as u32)
}

/// Sets the attribute flags of an open file or directory.
#[allow(unsafe_code)]
pub(crate) fn set_flags(file: &File, flags: u32) -> io::Result<()> {
    let value = flags as libc::c_int;
    // SAFETY: `file` is an open descriptor for the duration of the call and
    // FS_IOC_SETFLAGS reads exactly one `int` through the pointer, which
    // points to a live `c_int`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &value) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
