package mbridge

/*
#include <mbridge.h>
*/
import "C"

import "unsafe"

// DType is an element type, named as in safetensors.
type DType int

const (
	F64    DType = C.MB_DTYPE_F64
	F32    DType = C.MB_DTYPE_F32
	F16    DType = C.MB_DTYPE_F16
	BF16   DType = C.MB_DTYPE_BF16
	F8E4M3 DType = C.MB_DTYPE_F8_E4M3 // torch.float8_e4m3fn
	F8E5M2 DType = C.MB_DTYPE_F8_E5M2
	I64    DType = C.MB_DTYPE_I64
	I32    DType = C.MB_DTYPE_I32
	I16    DType = C.MB_DTYPE_I16
	I8     DType = C.MB_DTYPE_I8
	U8     DType = C.MB_DTYPE_U8
	Bool   DType = C.MB_DTYPE_BOOL
	// Keep, in options, leaves every dtype as it is.
	Keep DType = C.MB_DTYPE_KEEP
)

// String is "BF16"; "" for an unknown dtype.
func (d DType) String() string {
	p := C.mb_dtype_name(C.mb_dtype(d))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// Size is the bytes per element (0 for an unknown dtype).
func (d DType) Size() int { return int(C.mb_dtype_size(C.mb_dtype(d))) }

// Tensor is a tensor copied out of the library (Go memory, kept as long as you like).
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte // contiguous, row-major, little-endian
}

// tensorOf copies a view; the view's memory is only valid until the next call on its handle.
func tensorOf(v *C.mb_tensor_view) Tensor {
	t := Tensor{Name: C.GoString(v.name), DType: DType(v.dtype)}
	for i := 0; i < int(v.ndim) && i < C.MB_MAX_DIMS; i++ {
		t.Shape = append(t.Shape, int64(v.shape[i]))
	}
	t.Data = make([]byte, int(v.nbytes))
	if v.data != nil && v.nbytes > 0 {
		copy(t.Data, unsafe.Slice((*byte)(v.data), int(v.nbytes)))
	}
	return t
}
