//! Streaming export: one converted tensor at a time. `Export` is an `Iterator<Item = Result<Tensor>>` of
//! owned copies (a std `Iterator` cannot lend); `next_view` lends the library's buffer without copying.
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::bridge::Bridge;
use crate::error::{check, Result};
use crate::sys;
use crate::tensor::{Tensor, TensorView};

/// What the export streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Hugging Face tensors and names (`model.layers.0.self_attn.q_proj.weight`).
    HuggingFace,
    /// Full (unsplit) Megatron parameters with Transformer Engine names.
    Megatron,
}

impl Target {
    pub(crate) fn raw(self) -> sys::mb_target {
        match self {
            Target::HuggingFace => sys::MB_TARGET_HF,
            Target::Megatron => sys::MB_TARGET_MEGATRON,
        }
    }
}

/// An export in progress; made by [`Bridge::export`]. After the last tensor it also checks that the source
/// had no unused tensors (that is an error item). After `None` or an error it yields `None`.
pub struct Export<'b> {
    raw: NonNull<sys::mb_export>,
    finished: bool,
    _bridge: PhantomData<&'b mut Bridge>,
}

// Moves with its bridge (borrowed mutably): still one thread at a time on the pair.
unsafe impl Send for Export<'_> {}

impl<'b> Export<'b> {
    pub(crate) unsafe fn new(raw: *mut sys::mb_export, _bridge: &'b mut Bridge) -> Export<'b> {
        Export { raw: NonNull::new(raw).expect("mb_export_begin returned MB_OK and NULL"), finished: false, _bridge: PhantomData }
    }

    /// The next tensor without a copy: the view borrows the iterator, so it is gone before the next call.
    pub fn next_view(&mut self) -> Option<Result<TensorView<'_>>> {
        if self.finished {
            return None;
        }
        let mut view = MaybeUninit::<sys::mb_tensor_view>::zeroed();
        let status = unsafe { sys::mb_export_next(self.raw.as_ptr(), view.as_mut_ptr()) };
        if status == sys::MB_DONE {
            self.finished = true;
            return None;
        }
        if let Err(e) = check(status, || unsafe { sys::mb_export_errmsg(self.raw.as_ptr()) }) {
            // The C iterator keeps returning the same error: report it once.
            self.finished = true;
            return Some(Err(e));
        }
        Some(Ok(unsafe { TensorView::new(view.assume_init()) }))
    }
}

impl Iterator for Export<'_> {
    type Item = Result<Tensor>;

    fn next(&mut self) -> Option<Result<Tensor>> {
        self.next_view().map(|r| r.map(|v| v.to_owned()))
    }
}

impl std::iter::FusedIterator for Export<'_> {}

impl Drop for Export<'_> {
    fn drop(&mut self) {
        unsafe { sys::mb_export_free(self.raw.as_ptr()) }
    }
}
