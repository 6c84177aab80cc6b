// Package mbridge converts LLM checkpoints between Hugging Face safetensors and Megatron formats, streams
// converted tensors, verifies models and generates text, over the libmbridge C ABI (cgo, found through
// pkg-config: set PKG_CONFIG_PATH to <prefix>/lib/pkgconfig for a prefix install).
//
// Handles (Bridge, Export, Model, Tokenizer) are safe for concurrent use: each holds a mutex, because the
// C API allows one thread at a time per handle. Close them when done (io.Closer); a finalizer frees any
// that are forgotten. Errors are *Error values wrapping a Status, so errors.Is(err, mbridge.ErrNotFound)
// works.
package mbridge

/*
#cgo pkg-config: mbridge
#include <mbridge.h>
*/
import "C"

// Version is the library's run-time version ("0.1.0").
func Version() string { return C.GoString(C.mb_version()) }

// CudaDeviceCount is the number of CUDA devices this build of the library can use.
func CudaDeviceCount() int { return int(C.mb_cuda_device_count()) }

// ListSupported is {"families": [{"family", "architectures", "description"}]}.
func ListSupported() string { return C.GoString(C.mb_list_supported()) }
