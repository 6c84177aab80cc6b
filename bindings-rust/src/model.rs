//! `Model`: a model's weights on a backend, its logits, and generation with a closure called per token.
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use crate::bridge::Bridge;
use crate::error::{check, check_thread, cstr_lossy, Error, Result, Status};
use crate::sys;
use crate::tokenizer::Tokenizer;
use crate::util::{c_string, PanicSlot};

/// Where the weights go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The float32 reference: exact, slow; for small models and checking.
    #[default]
    Cpu,
    /// bf16 weights on this GPU (an error in a build without CUDA or without a GPU). Split over ranks
    /// (`Model::load_parallel`): every rank on this GPU, or with -1 rank r on GPU r (NCCL between them).
    Cuda(i32),
}

/// How a model is split over ranks that are threads of this process (on the CPU or GPUs), each holding only
/// its part of the weights; `default()` is one rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallel {
    /// Tensor-parallel ranks (attention heads, MLP columns, vocabulary rows).
    pub tp: i32,
    /// Pipeline stages (consecutive layers).
    pub pp: i32,
    /// With `tp > 1`: each rank holds whole experts of a mixture instead of columns of every one.
    pub expert_parallel: bool,
    /// This process is one rank of a run a launcher started (torchrun, mpirun, srun: rank and world from their
    /// environment variables; `tp * pp` processes, every one making the same calls; `Device::Cuda` ranks take GPU
    /// `LOCAL_RANK`). Otherwise the ranks are threads of this process.
    pub one_process_per_rank: bool,
}

impl Default for Parallel {
    fn default() -> Parallel {
        Parallel { tp: 1, pp: 1, expert_parallel: false, one_process_per_rank: false }
    }
}

/// Sampling settings; `default()` is the library's (greedy, 16 new tokens, no stop ids).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub max_new_tokens: i64,
    /// 0: greedy.
    pub temperature: f64,
    /// 0: no limit.
    pub top_k: i64,
    /// 1: no limit.
    pub top_p: f64,
    pub seed: u64,
    /// A sequence ends after one of these (kept in its output).
    pub stop_ids: Vec<i32>,
}

impl Default for GenerateOptions {
    fn default() -> GenerateOptions {
        let c = unsafe { sys::mb_generate_default_options() };
        GenerateOptions {
            max_new_tokens: c.max_new_tokens,
            temperature: c.temperature,
            top_k: c.top_k,
            top_p: c.top_p,
            seed: c.seed,
            stop_ids: Vec::new(),
        }
    }
}

impl GenerateOptions {
    /// Safety of the result: it points into `self.stop_ids`.
    fn to_c(&self) -> sys::mb_generate_options {
        let mut c = unsafe { sys::mb_generate_default_options() };
        c.max_new_tokens = self.max_new_tokens;
        c.temperature = self.temperature;
        c.top_k = self.top_k;
        c.top_p = self.top_p;
        c.seed = self.seed;
        c.stop_ids = if self.stop_ids.is_empty() { ptr::null() } else { self.stop_ids.as_ptr() };
        c.stop_count = self.stop_ids.len();
        c
    }
}

/// A token as generation chooses it, given to the `on_token` closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Which prompt's sequence.
    pub sequence: usize,
    /// 0 for the first new token.
    pub step: i64,
    pub id: i32,
}

/// Loaded weights. `Send`, not `Sync` (one thread at a time on a handle).
pub struct Model {
    raw: NonNull<sys::mb_model>,
}

unsafe impl Send for Model {}

struct TokenState<'f> {
    on_token: &'f mut dyn FnMut(Token) -> bool,
    panic: PanicSlot,
}

unsafe extern "C" fn token_trampoline(sequence: usize, step: i64, token: i32, user: *mut c_void) -> c_int {
    let state = &mut *(user as *mut TokenState);
    if state.panic.is_set() {
        return 0;
    }
    match catch_unwind(AssertUnwindSafe(|| (state.on_token)(Token { sequence, step, id: token }))) {
        Ok(go_on) => c_int::from(go_on),
        Err(payload) => {
            state.panic.store(payload);
            0 // end this sequence; the panic is re-raised when the call returns
        }
    }
}

impl Model {
    /// Reads every parameter of the bridge's model onto `device`; the bridge may be dropped afterwards.
    pub fn load(bridge: &mut Bridge, device: Device) -> Result<Model> {
        Model::load_parallel(bridge, device, Parallel::default())
    }

    /// As `load`, split over `parallel.tp x parallel.pp` ranks (every call then runs on all of them).
    pub fn load_parallel(bridge: &mut Bridge, device: Device, parallel: Parallel) -> Result<Model> {
        let mut o = unsafe { sys::mb_load_default_options() };
        o.tp = parallel.tp;
        o.pp = parallel.pp;
        o.expert_parallel = c_int::from(parallel.expert_parallel);
        o.one_process_per_rank = c_int::from(parallel.one_process_per_rank);
        match device {
            Device::Cpu => o.device = sys::MB_DEVICE_CPU,
            Device::Cuda(index) => {
                o.device = sys::MB_DEVICE_CUDA;
                o.device_index = index;
            }
        }
        let mut raw = ptr::null_mut();
        // A making call: the library records its message on the thread only, not on the bridge.
        check_thread(unsafe { sys::mb_load_weights(&mut raw, bridge.as_ptr(), &o) })?;
        Ok(Model { raw: NonNull::new(raw).expect("mb_load_weights returned MB_OK and NULL") })
    }

    pub fn vocab_size(&self) -> usize {
        unsafe { sys::mb_model_vocab_size(self.raw.as_ptr()) }.max(0) as usize
    }

    /// Logits of one sequence: `ids.len() x vocab_size` float32, row by row.
    pub fn forward(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        let mut logits = ptr::null();
        check(unsafe { sys::mb_forward(self.raw.as_ptr(), ids.as_ptr(), ids.len(), &mut logits) }, || self.errmsg())?;
        let n = ids.len() * self.vocab_size();
        Ok(if n == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(logits, n) }.to_vec() })
    }

    /// Generates for every prompt together (a batch); `on_token` sees each token as it is chosen and returns
    /// `false` to end that sequence. Returns each sequence's new tokens.
    pub fn generate(
        &mut self,
        prompts: &[&[i32]],
        options: &GenerateOptions,
        mut on_token: impl FnMut(Token) -> bool,
    ) -> Result<Vec<Vec<i32>>> {
        let ptrs: Vec<*const i32> = prompts.iter().map(|p| p.as_ptr()).collect();
        let lengths: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        let c = options.to_c();
        let mut state = TokenState { on_token: &mut on_token, panic: PanicSlot::default() };
        let (mut generated, mut generated_lengths) = (ptr::null(), ptr::null());
        let status = unsafe {
            sys::mb_generate(
                self.raw.as_ptr(),
                ptrs.as_ptr(),
                lengths.as_ptr(),
                prompts.len(),
                &c,
                Some(token_trampoline),
                &mut state as *mut TokenState as *mut c_void,
                &mut generated,
                &mut generated_lengths,
            )
        };
        let result = check(status, || self.errmsg());
        state.panic.resume();
        result?;
        // Copied now: the buffers live until the next call on this handle.
        let lengths = unsafe { std::slice::from_raw_parts(generated_lengths, prompts.len()) };
        let all = unsafe { std::slice::from_raw_parts(generated, lengths.iter().sum()) };
        let mut out = Vec::with_capacity(prompts.len());
        let mut at = 0;
        for &n in lengths {
            out.push(all[at..at + n].to_vec());
            at += n;
        }
        Ok(out)
    }

    /// One prompt with images (LLaVA, Qwen2.5-VL): the files decoded and prepared as the model's processor does,
    /// with `processor_dir`'s preprocessor_config.json (`None`: the processor's defaults), the prompt's image
    /// tokens (one per image, or already one per token each image fills) expanded, then generated. Returns the
    /// new tokens.
    pub fn generate_with_images(
        &mut self,
        prompt: &[i32],
        image_paths: &[&str],
        processor_dir: Option<&str>,
        options: &GenerateOptions,
        mut on_token: impl FnMut(Token) -> bool,
    ) -> Result<Vec<i32>> {
        let owned: Vec<CString> = image_paths.iter().map(|p| c_string(p)).collect::<Result<_>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|p| p.as_ptr()).collect();
        let dir = processor_dir.map(c_string).transpose()?;
        let c = options.to_c();
        let mut state = TokenState { on_token: &mut on_token, panic: PanicSlot::default() };
        let (mut generated, mut length) = (ptr::null(), 0usize);
        let status = unsafe {
            sys::mb_generate_with_images(
                self.raw.as_ptr(),
                prompt.as_ptr(),
                prompt.len(),
                ptrs.as_ptr(),
                ptrs.len(),
                dir.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
                &c,
                Some(token_trampoline),
                &mut state as *mut TokenState as *mut c_void,
                &mut generated,
                &mut length,
            )
        };
        let result = check(status, || self.errmsg());
        state.panic.resume();
        result?;
        Ok(if length == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(generated, length) }.to_vec() })
    }

    /// Text in, text out: prompts encoded with `tokenizer`, generated (stop ids: the tokenizer's eos ids
    /// unless `options.stop_ids` names some), new tokens decoded without special tokens.
    pub fn generate_text(
        &mut self,
        tokenizer: &mut Tokenizer,
        prompts: &[&str],
        options: &GenerateOptions,
        mut on_token: impl FnMut(Token) -> bool,
    ) -> Result<Vec<String>> {
        let owned: Vec<CString> = prompts.iter().map(|p| c_string(p)).collect::<Result<_>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|p| p.as_ptr()).collect();
        let c = options.to_c();
        let mut state = TokenState { on_token: &mut on_token, panic: PanicSlot::default() };
        let mut texts = ptr::null();
        let status = unsafe {
            sys::mb_generate_text(
                self.raw.as_ptr(),
                tokenizer.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                &c,
                Some(token_trampoline),
                &mut state as *mut TokenState as *mut c_void,
                &mut texts,
            )
        };
        let result = check(status, || self.errmsg());
        state.panic.resume();
        result?;
        if texts.is_null() {
            return Err(Error::new(Status::Internal, "mb_generate_text returned MB_OK without texts"));
        }
        let texts = unsafe { std::slice::from_raw_parts(texts, prompts.len()) };
        Ok(texts.iter().map(|&t| unsafe { cstr_lossy(t) }).collect())
    }

    fn errmsg(&self) -> *const c_char {
        unsafe { sys::mb_model_errmsg(self.raw.as_ptr()) }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::mb_model_free(self.raw.as_ptr()) }
    }
}
