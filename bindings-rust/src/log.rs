//! The process-wide log callback as a Rust closure. The library may call it from any thread (one message
//! at a time), so the closure must be `Send + Sync`; it is kept in a static because C holds no Rust state.
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::sys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

type Logger = Box<dyn Fn(LogLevel, &str) + Send + Sync>;
static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

unsafe extern "C" fn log_trampoline(level: sys::mb_log_level, message: *const c_char, _user: *mut c_void) {
    let level = match level {
        sys::MB_LOG_DEBUG => LogLevel::Debug,
        sys::MB_LOG_INFO => LogLevel::Info,
        sys::MB_LOG_WARNING => LogLevel::Warning,
        _ => LogLevel::Error,
    };
    let message = if message.is_null() { "".into() } else { CStr::from_ptr(message).to_string_lossy() };
    if let Ok(guard) = LOGGER.lock() {
        if let Some(logger) = guard.as_ref() {
            // A panicking logger loses its message; it must not unwind into C.
            let _ = catch_unwind(AssertUnwindSafe(|| logger(level, &message)));
        }
    }
}

/// Sends library log messages at or above `min_level` to `logger`; `None` stops logging.
pub fn set_logger(min_level: LogLevel, logger: Option<Box<dyn Fn(LogLevel, &str) + Send + Sync>>) {
    let raw_level = match min_level {
        LogLevel::Debug => sys::MB_LOG_DEBUG,
        LogLevel::Info => sys::MB_LOG_INFO,
        LogLevel::Warning => sys::MB_LOG_WARNING,
        LogLevel::Error => sys::MB_LOG_ERROR,
    };
    let install = logger.is_some();
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = logger;
    unsafe { sys::mb_set_log_callback(if install { Some(log_trampoline) } else { None }, raw_level, std::ptr::null_mut()) };
}
