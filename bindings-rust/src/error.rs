//! One error type for every call: the library's status plus the message it gave (naming the file, tensor
//! and cause). Messages are copied out right after the failing call, before anything can overwrite them.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_char;

use crate::sys;

/// What kind of failure a call reported (`mb_status` without `MB_OK` / `MB_DONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    InvalidArgument,
    Io,
    /// A malformed, truncated or hostile file.
    Format,
    Unsupported,
    NotFound,
    OutOfMemory,
    /// A progress callback asked to stop.
    Cancelled,
    Cuda,
    /// A bug in mbridge.
    Internal,
    /// The Hugging Face Hub refused the request (gated or private model, missing or wrong token).
    AccessDenied,
    /// The Hugging Face Hub could not be reached, or a transfer failed.
    Network,
    /// A status this crate does not know (a newer library).
    Other(i32),
}

impl Status {
    pub(crate) fn from_raw(status: sys::mb_status) -> Status {
        match status {
            sys::MB_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::MB_ERR_IO => Status::Io,
            sys::MB_ERR_FORMAT => Status::Format,
            sys::MB_ERR_UNSUPPORTED => Status::Unsupported,
            sys::MB_ERR_NOT_FOUND => Status::NotFound,
            sys::MB_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::MB_ERR_CANCELLED => Status::Cancelled,
            sys::MB_ERR_CUDA => Status::Cuda,
            sys::MB_ERR_INTERNAL => Status::Internal,
            sys::MB_ERR_ACCESS_DENIED => Status::AccessDenied,
            sys::MB_ERR_NETWORK => Status::Network,
            other => Status::Other(other),
        }
    }

    /// The C status code (`MB_ERR_*`).
    pub fn code(self) -> i32 {
        match self {
            Status::InvalidArgument => sys::MB_ERR_INVALID_ARGUMENT,
            Status::Io => sys::MB_ERR_IO,
            Status::Format => sys::MB_ERR_FORMAT,
            Status::Unsupported => sys::MB_ERR_UNSUPPORTED,
            Status::NotFound => sys::MB_ERR_NOT_FOUND,
            Status::OutOfMemory => sys::MB_ERR_OUT_OF_MEMORY,
            Status::Cancelled => sys::MB_ERR_CANCELLED,
            Status::Cuda => sys::MB_ERR_CUDA,
            Status::Internal => sys::MB_ERR_INTERNAL,
            Status::AccessDenied => sys::MB_ERR_ACCESS_DENIED,
            Status::Network => sys::MB_ERR_NETWORK,
            Status::Other(code) => code,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // mb_status_string is static storage and thread-safe.
        let name = unsafe { cstr_lossy(sys::mb_status_string(self.code())) };
        f.write_str(&name)
    }
}

/// A failed mbridge call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The library's message, as `mb_last_error()` or the handle's `*_errmsg()` gave it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.status.code(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into `Ok` or an `Error` with the message `errmsg` reads (called at once, on this thread).
pub(crate) fn check(status: sys::mb_status, errmsg: impl FnOnce() -> *const c_char) -> Result<()> {
    if status >= 0 {
        return Ok(());
    }
    Err(Error::new(Status::from_raw(status), unsafe { cstr_lossy(errmsg()) }))
}

/// For calls without a handle: the thread's message.
pub(crate) fn check_thread(status: sys::mb_status) -> Result<()> {
    check(status, || unsafe { sys::mb_last_error() })
}

/// Copies a C string the library owns; NULL reads as "".
pub(crate) unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
