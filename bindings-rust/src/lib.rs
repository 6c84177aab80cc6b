//! Safe Rust API over libmbridge (`include/mbridge.h`): Hugging Face <-> Megatron checkpoint conversion,
//! streaming export, verification, CPU/GPU generation and tokenizers.
//!
//! ```no_run
//! use mbridge::{Bridge, Target};
//! let mut bridge = Bridge::open("models/llama")?;
//! for tensor in bridge.export(Target::Megatron)? {
//!     let t = tensor?; // an owned copy; `Export::next_view` lends without copying
//!     println!("{} {} {:?}", t.name, t.dtype, t.shape);
//! }
//! # Ok::<(), mbridge::Error>(())
//! ```
//!
//! Every failing call returns [`Error`]: the C status ([`Status`]) and the library's message. Handles are
//! freed on drop. `Bridge`, `Model` and `Tokenizer` are `Send` but not `Sync`, as the C API allows one
//! thread at a time per handle; an `Export` borrows its bridge mutably because the C API treats the pair as
//! one handle.

pub mod sys;

mod bridge;
mod convert;
mod error;
mod export;
mod log;
mod model;
mod tensor;
mod tokenizer;
mod util;

pub use bridge::{can_handle, list_supported, Bridge, BridgeOptions};
pub use convert::{export_ckpt, import_ckpt, reshard_ckpt, verify, ConvertOptions, MegatronFormat, Progress, Verification};
pub use error::{Error, Result, Status};
pub use export::{Export, Target};
pub use log::{set_logger, LogLevel};
pub use model::{Device, GenerateOptions, Model, Parallel, Token};
pub use tensor::{Dtype, Tensor, TensorView};
pub use tokenizer::{DecodeStream, Tokenizer};

/// The library's run-time version ("0.1.0").
pub fn version() -> String {
    unsafe { error::cstr_lossy(sys::mb_version()) }
}

/// CUDA devices this build of the library can use (0 without CUDA or without a GPU).
pub fn cuda_device_count() -> usize {
    unsafe { sys::mb_cuda_device_count() }.max(0) as usize
}
