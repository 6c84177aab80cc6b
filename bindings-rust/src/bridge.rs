//! `Bridge`: an opened model (a Hugging Face folder or a Megatron checkpoint) and its description.
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use crate::error::{check, check_thread, cstr_lossy, Result};
use crate::export::{Export, Target};
use crate::sys;
use crate::util::{c_path, c_string};

/// How to read a Megatron checkpoint; a Hugging Face folder ignores these.
#[derive(Debug, Clone, Default)]
pub struct BridgeOptions {
    /// A `config.json` (or its folder) describing the model; `None`: the one stored at import, else the
    /// checkpoint's Megatron args.
    pub hf_model: Option<PathBuf>,
    /// The family to read Megatron args as (`None`: guessed).
    pub family: Option<String>,
}

/// An opened model. `Send` (a handle may move between threads) but not `Sync`: the C API allows one
/// thread at a time on a handle.
pub struct Bridge {
    raw: NonNull<sys::mb_bridge>,
}

// The C API: "a handle is used by one thread at a time; different handles are independent".
unsafe impl Send for Bridge {}

impl Bridge {
    /// Opens a Hugging Face folder or a Megatron checkpoint (its root or one `iter_*` folder). Reads the
    /// configs and indexes, not the weights.
    pub fn open(path: impl AsRef<Path>) -> Result<Bridge> {
        Bridge::open_with(path, &BridgeOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: &BridgeOptions) -> Result<Bridge> {
        let path = c_path(path.as_ref())?;
        let hf_model = options.hf_model.as_deref().map(c_path).transpose()?;
        let family = options.family.as_deref().map(c_string).transpose()?;
        let mut o = unsafe { sys::mb_bridge_default_options() };
        o.hf_model = hf_model.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        o.family = family.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        let mut raw = ptr::null_mut();
        check_thread(unsafe { sys::mb_bridge_open(&mut raw, path.as_ptr(), &o) })?;
        Ok(Bridge { raw: NonNull::new(raw).expect("mb_bridge_open returned MB_OK and NULL") })
    }

    /// The model as JSON: family, architecture, Megatron TransformerConfig, Hugging Face config, layout.
    pub fn info(&mut self) -> Result<String> {
        let mut json = ptr::null();
        check(unsafe { sys::mb_bridge_info(self.raw.as_ptr(), &mut json) }, || self.errmsg())?;
        Ok(unsafe { cstr_lossy(json) })
    }

    /// Streams the model one converted tensor at a time. The iterator borrows the bridge mutably: the C API
    /// treats an iterator and its bridge as one handle, and the bridge must outlive it.
    pub fn export(&mut self, target: Target) -> Result<Export<'_>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mb_export_begin(&mut raw, self.raw.as_ptr(), target.raw()) }, || self.errmsg())?;
        Ok(unsafe { Export::new(raw, self) })
    }

    pub(crate) fn as_ptr(&mut self) -> *mut sys::mb_bridge {
        self.raw.as_ptr()
    }

    pub(crate) fn errmsg(&self) -> *const std::os::raw::c_char {
        unsafe { sys::mb_bridge_errmsg(self.raw.as_ptr()) }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        unsafe { sys::mb_bridge_free(self.raw.as_ptr()) }
    }
}

/// `{"families": [{"family", "architectures", "description"}]}`: the families this library converts.
pub fn list_supported() -> String {
    unsafe { cstr_lossy(sys::mb_list_supported()) }
}

/// Whether a Hugging Face `config.json` (or its folder) describes a model mbridge converts: `Ok(None)` when
/// it does, `Ok(Some(reason))` when not. A config that cannot be read is an `Err`.
pub fn can_handle(config_path: impl AsRef<Path>) -> Result<Option<String>> {
    let path = c_path(config_path.as_ref())?;
    let mut supported = 0;
    let mut reason = ptr::null();
    check_thread(unsafe { sys::mb_can_handle(path.as_ptr(), &mut supported, &mut reason) })?;
    Ok(if supported != 0 { None } else { Some(unsafe { cstr_lossy(reason) }) })
}
