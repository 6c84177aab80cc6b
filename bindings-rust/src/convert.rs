//! One-call conversions (Hugging Face <-> Megatron, Megatron resharding) and model verification. Each
//! streams one parameter at a time; on failure or cancellation nothing is left at the output.
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

use crate::error::{check_thread, cstr_lossy, Result};
use crate::sys;
use crate::tensor::Dtype;
use crate::util::{c_path, c_string, PanicSlot};

/// The Megatron checkpoint format written by an import or a reshard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MegatronFormat {
    /// Megatron-Core `torch_dist` (the default).
    TorchDist,
    /// Megatron-LM `mp_rank_*/model_optim_rng.pt`.
    Legacy,
}

/// Called with (stage, done, total) in bytes; return `false` to cancel (the call then fails with
/// `Status::Cancelled` and removes what it wrote).
pub type Progress = Arc<dyn Fn(&str, u64, u64) -> bool + Send + Sync>;

/// Options of `import_ckpt`, `export_ckpt` and `reshard_ckpt`; `default()` is the library's defaults.
#[derive(Clone)]
pub struct ConvertOptions {
    pub format: MegatronFormat,
    pub tp: i32,
    pub pp: i32,
    pub vpp: i32,
    pub ep: i32,
    /// Megatron's local spec module names instead of Transformer Engine's.
    pub local_spec: bool,
    /// Cast every tensor written (`None`: keep each dtype).
    pub dtype: Option<Dtype>,
    pub iteration: i64,
    pub vocab_divisible_by: i64,
    /// Hugging Face output: the largest safetensors shard.
    pub max_shard_bytes: u64,
    /// Megatron input: the `config.json` describing it (`None`: the stored one).
    pub hf_model: Option<PathBuf>,
    pub family: Option<String>,
    /// Hugging Face input: skip tensors no parameter uses instead of failing.
    pub allow_unused: bool,
    pub progress: Option<Progress>,
}

impl Default for ConvertOptions {
    fn default() -> ConvertOptions {
        // From the library, so the defaults cannot drift from the C ones.
        let c = unsafe { sys::mb_convert_default_options() };
        ConvertOptions {
            format: if c.format == sys::MB_FORMAT_MEGATRON_LEGACY { MegatronFormat::Legacy } else { MegatronFormat::TorchDist },
            tp: c.tp,
            pp: c.pp,
            vpp: c.vpp,
            ep: c.ep,
            local_spec: c.local_spec != 0,
            dtype: if c.dtype == sys::MB_DTYPE_KEEP { None } else { Some(Dtype::from_raw(c.dtype)) },
            iteration: c.iteration,
            vocab_divisible_by: c.vocab_divisible_by,
            max_shard_bytes: c.max_shard_bytes,
            hf_model: None,
            family: None,
            allow_unused: c.allow_unused != 0,
            progress: None,
        }
    }
}

struct ProgressState<'a> {
    progress: &'a Progress,
    panic: PanicSlot,
}

unsafe extern "C" fn progress_trampoline(stage: *const c_char, done: u64, total: u64, user: *mut c_void) -> c_int {
    let state = &mut *(user as *mut ProgressState);
    if state.panic.is_set() {
        return 1;
    }
    let stage = cstr_lossy(stage);
    match catch_unwind(AssertUnwindSafe(|| (state.progress)(&stage, done, total))) {
        Ok(go_on) => c_int::from(!go_on),
        Err(payload) => {
            state.panic.store(payload);
            1 // cancel: the panic is re-raised once the C call has cleaned up
        }
    }
}

/// Builds the C options (with the strings they point into) and runs `call` with them.
fn with_c_options(options: &ConvertOptions, call: impl FnOnce(&sys::mb_convert_options) -> sys::mb_status) -> Result<()> {
    let hf_model = options.hf_model.as_deref().map(c_path).transpose()?;
    let family = options.family.as_deref().map(c_string).transpose()?;
    let mut c = unsafe { sys::mb_convert_default_options() };
    c.format = match options.format {
        MegatronFormat::TorchDist => sys::MB_FORMAT_TORCH_DIST,
        MegatronFormat::Legacy => sys::MB_FORMAT_MEGATRON_LEGACY,
    };
    c.tp = options.tp;
    c.pp = options.pp;
    c.vpp = options.vpp;
    c.ep = options.ep;
    c.local_spec = options.local_spec as i32;
    c.dtype = options.dtype.map_or(sys::MB_DTYPE_KEEP, Dtype::raw);
    c.iteration = options.iteration;
    c.vocab_divisible_by = options.vocab_divisible_by;
    c.max_shard_bytes = options.max_shard_bytes;
    c.hf_model = hf_model.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    c.family = family.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    c.allow_unused = options.allow_unused as i32;
    let mut state = options.progress.as_ref().map(|progress| ProgressState { progress, panic: PanicSlot::default() });
    if let Some(state) = state.as_mut() {
        c.progress = Some(progress_trampoline);
        c.user_data = state as *mut ProgressState as *mut c_void;
    }
    let status = call(&c);
    let result = check_thread(status);
    if let Some(state) = state {
        state.panic.resume();
    }
    result
}

/// Hugging Face folder -> Megatron checkpoint (`megatron_path` must not exist, or be empty).
pub fn import_ckpt(hf_path: impl AsRef<Path>, megatron_path: impl AsRef<Path>, options: &ConvertOptions) -> Result<()> {
    let (src, dst) = (c_path(hf_path.as_ref())?, c_path(megatron_path.as_ref())?);
    with_c_options(options, |c| unsafe { sys::mb_import_ckpt(src.as_ptr(), dst.as_ptr(), c) })
}

/// Megatron checkpoint -> Hugging Face folder (`hf_path` must not exist): safetensors, config, tokenizer files.
pub fn export_ckpt(megatron_path: impl AsRef<Path>, hf_path: impl AsRef<Path>, options: &ConvertOptions) -> Result<()> {
    let (src, dst) = (c_path(megatron_path.as_ref())?, c_path(hf_path.as_ref())?);
    with_c_options(options, |c| unsafe { sys::mb_export_ckpt(src.as_ptr(), dst.as_ptr(), c) })
}

/// Megatron checkpoint -> Megatron checkpoint in another layout or format.
pub fn reshard_ckpt(megatron_path: impl AsRef<Path>, out_path: impl AsRef<Path>, options: &ConvertOptions) -> Result<()> {
    let (src, dst) = (c_path(megatron_path.as_ref())?, c_path(out_path.as_ref())?);
    with_c_options(options, |c| unsafe { sys::mb_reshard_ckpt(src.as_ptr(), dst.as_ptr(), c) })
}

/// The outcome of [`verify`].
#[derive(Debug, Clone)]
pub struct Verification {
    /// Every parameter agrees and both models have the same parameters.
    pub equal: bool,
    /// `{"params": [{"param", "a", "b", "equal", "note"?}], "equal"}`.
    pub report_json: String,
}

/// Compares two models (Hugging Face folders or Megatron checkpoints, any layout) parameter by parameter.
pub fn verify(a: impl AsRef<Path>, b: impl AsRef<Path>) -> Result<Verification> {
    let (a, b) = (c_path(a.as_ref())?, c_path(b.as_ref())?);
    let mut equal = 0;
    let mut report = ptr::null();
    check_thread(unsafe { sys::mb_verify(a.as_ptr(), b.as_ptr(), &mut equal, &mut report) })?;
    // The report lives until the next mbridge call on this thread: copied at once.
    Ok(Verification { equal: equal != 0, report_json: unsafe { cstr_lossy(report) } })
}
