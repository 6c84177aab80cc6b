//! Element types and tensors: `TensorView` borrows the library's memory (valid until the next call on the
//! handle that produced it), `Tensor` owns a copy.
use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;

use crate::sys;

/// Element types, named as in safetensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    /// torch.float8_e4m3fn
    F8E4M3,
    F8E5M2,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    /// A dtype this crate does not know (a newer library).
    Other(i32),
}

impl Dtype {
    pub(crate) fn from_raw(raw: sys::mb_dtype) -> Dtype {
        match raw {
            sys::MB_DTYPE_F64 => Dtype::F64,
            sys::MB_DTYPE_F32 => Dtype::F32,
            sys::MB_DTYPE_F16 => Dtype::F16,
            sys::MB_DTYPE_BF16 => Dtype::BF16,
            sys::MB_DTYPE_F8_E4M3 => Dtype::F8E4M3,
            sys::MB_DTYPE_F8_E5M2 => Dtype::F8E5M2,
            sys::MB_DTYPE_I64 => Dtype::I64,
            sys::MB_DTYPE_I32 => Dtype::I32,
            sys::MB_DTYPE_I16 => Dtype::I16,
            sys::MB_DTYPE_I8 => Dtype::I8,
            sys::MB_DTYPE_U8 => Dtype::U8,
            sys::MB_DTYPE_BOOL => Dtype::Bool,
            other => Dtype::Other(other),
        }
    }

    pub(crate) fn raw(self) -> sys::mb_dtype {
        match self {
            Dtype::F64 => sys::MB_DTYPE_F64,
            Dtype::F32 => sys::MB_DTYPE_F32,
            Dtype::F16 => sys::MB_DTYPE_F16,
            Dtype::BF16 => sys::MB_DTYPE_BF16,
            Dtype::F8E4M3 => sys::MB_DTYPE_F8_E4M3,
            Dtype::F8E5M2 => sys::MB_DTYPE_F8_E5M2,
            Dtype::I64 => sys::MB_DTYPE_I64,
            Dtype::I32 => sys::MB_DTYPE_I32,
            Dtype::I16 => sys::MB_DTYPE_I16,
            Dtype::I8 => sys::MB_DTYPE_I8,
            Dtype::U8 => sys::MB_DTYPE_U8,
            Dtype::Bool => sys::MB_DTYPE_BOOL,
            Dtype::Other(raw) => raw,
        }
    }

    /// "BF16", as safetensors names it; "" for an unknown dtype.
    pub fn name(self) -> &'static str {
        let p = unsafe { sys::mb_dtype_name(self.raw()) };
        if p.is_null() {
            return "";
        }
        // Static storage in the library.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
    }

    /// Bytes per element; 0 for an unknown dtype.
    pub fn size(self) -> usize {
        unsafe { sys::mb_dtype_size(self.raw()) }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dtype::Other(raw) => write!(f, "dtype({raw})"),
            d => f.write_str(d.name()),
        }
    }
}

/// A tensor the library lent out; it cannot outlive the borrow of the handle that produced it.
#[derive(Clone, Copy)]
pub struct TensorView<'a> {
    raw: sys::mb_tensor_view,
    _lent: PhantomData<&'a [u8]>,
}

impl<'a> TensorView<'a> {
    /// Safety: `raw`'s name and data must stay valid for `'a`.
    pub(crate) unsafe fn new(raw: sys::mb_tensor_view) -> TensorView<'a> {
        TensorView { raw, _lent: PhantomData }
    }

    pub fn name(&self) -> &'a str {
        if self.raw.name.is_null() {
            return "";
        }
        let bytes = unsafe { CStr::from_ptr(self.raw.name) }.to_bytes();
        // Names come from JSON headers and pickles, which hold UTF-8.
        std::str::from_utf8(bytes).unwrap_or("<non-UTF-8 name>")
    }

    pub fn dtype(&self) -> Dtype {
        Dtype::from_raw(self.raw.dtype)
    }

    pub fn shape(&self) -> &[i64] {
        let n = (self.raw.ndim.max(0) as usize).min(sys::MB_MAX_DIMS);
        &self.raw.shape[..n]
    }

    /// Contiguous, row-major, little-endian bytes; empty for a tensor without elements.
    pub fn data(&self) -> &'a [u8] {
        if self.raw.data.is_null() || self.raw.nbytes == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(self.raw.data as *const u8, self.raw.nbytes as usize) }
    }

    pub fn to_owned(&self) -> Tensor {
        Tensor { name: self.name().to_owned(), dtype: self.dtype(), shape: self.shape().to_vec(), data: self.data().to_vec() }
    }
}

impl fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TensorView({} {}{:?}, {} bytes)", self.name(), self.dtype(), self.shape(), self.raw.nbytes)
    }
}

/// A tensor copied out of the library: it lives as long as you keep it.
#[derive(Clone, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<i64>,
    /// Contiguous, row-major, little-endian bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({} {}{:?}, {} bytes)", self.name, self.dtype, self.shape, self.data.len())
    }
}
