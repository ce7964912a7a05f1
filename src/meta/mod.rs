//! `.bupm` metadata (spec §4): the record model and its byte codec
//! ([`record`]), capturing metadata from the filesystem the way `bup save`
//! does ([`capture`]), POSIX ACL text/xattr conversion ([`acl`]), and
//! applying metadata to restored objects ([`mod@apply`]).

pub mod acl;
pub mod apply;
pub mod capture;
mod chattr;
pub mod record;

pub use apply::{Applier, ApplyError, ApplyOptions, ApplyWarning, apply, create_special};
pub use capture::{CaptureError, CaptureStep, Capturer};
pub use record::{
    Acl, DecodeError, FileType, Metadata, RecordReader, Timespec, decode_record,
    encode_empty_record, read_bvec, read_vint, read_vuint, write_bvec, write_vint, write_vuint,
};
