//! Rust values to C arguments: paths and strings as NUL-terminated bytes, panics kept from unwinding
//! through C frames (they are caught in callbacks and resumed after the C call returns).
use std::any::Any;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result, Status};

pub(crate) fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(Status::InvalidArgument, format!("path {} contains a NUL byte", path.display())))
}

pub(crate) fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(Status::InvalidArgument, format!("{s:?} contains a NUL byte")))
}

/// A panic caught inside a callback, to be re-raised once control is back in Rust.
#[derive(Default)]
pub(crate) struct PanicSlot(Option<Box<dyn Any + Send>>);

impl PanicSlot {
    pub(crate) fn store(&mut self, payload: Box<dyn Any + Send>) {
        if self.0.is_none() {
            self.0 = Some(payload);
        }
    }
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
    pub(crate) fn resume(self) {
        if let Some(payload) = self.0 {
            std::panic::resume_unwind(payload);
        }
    }
}
