package mbridge

/*
#include <stdlib.h>
#include <mbridge.h>
extern int goOnProgress(char *stage, uint64_t done, uint64_t total, void *user);
static mb_progress_fn progress_trampoline(void) { return (mb_progress_fn)goOnProgress; }
*/
import "C"

import "unsafe"

// MegatronFormat is the checkpoint format an import writes.
type MegatronFormat int

const (
	TorchDist MegatronFormat = C.MB_FORMAT_TORCH_DIST      // Megatron-Core torch_dist (the default)
	Legacy    MegatronFormat = C.MB_FORMAT_MEGATRON_LEGACY // Megatron-LM mp_rank_*/model_optim_rng.pt
)

// ConvertOptions are the options of ImportCkpt and ExportCkpt; the zero value of a field means the
// library's default (TorchDist, TP=PP=VPP=EP=1, dtypes kept, 5e9-byte shards).
type ConvertOptions struct {
	Format           MegatronFormat
	TP, PP, VPP, EP  int
	LocalSpec        bool // Megatron's local spec module names instead of Transformer Engine's
	Iteration        int64
	VocabDivisibleBy int64
	MaxShardBytes    uint64
	HFModel          string // Megatron input: the config.json describing it
	Family           string
	AllowUnused      bool // Hugging Face input: skip tensors no parameter uses instead of failing
	// Progress is called with (stage, done, total) bytes; return false to cancel (ErrCancelled; nothing is
	// left at the output).
	Progress func(stage string, done, total uint64) bool
	// Set by WithDType: a zero DType is F64, so "keep each dtype" cannot be the zero value of a field.
	dtype    DType
	dtypeSet bool
}

// WithDType returns the options with every written tensor cast to d (by default each keeps its dtype).
func (o ConvertOptions) WithDType(d DType) ConvertOptions {
	o.dtype, o.dtypeSet = d, true
	return o
}

// convert runs one conversion call with C options built from opts (nil: defaults).
func convert(opts *ConvertOptions, call func(*C.mb_convert_options) C.mb_status) error {
	c := C.mb_convert_default_options()
	var progress *progressCall
	if opts != nil {
		if opts.Format != 0 {
			c.format = C.mb_format(opts.Format)
		}
		for _, f := range []struct {
			src int
			dst *C.int32_t
		}{{opts.TP, &c.tp}, {opts.PP, &c.pp}, {opts.VPP, &c.vpp}, {opts.EP, &c.ep}} {
			if f.src != 0 {
				*f.dst = C.int32_t(f.src)
			}
		}
		if opts.LocalSpec {
			c.local_spec = 1
		}
		if opts.dtypeSet {
			c.dtype = C.mb_dtype(opts.dtype)
		}
		c.iteration = C.int64_t(opts.Iteration)
		if opts.VocabDivisibleBy != 0 {
			c.vocab_divisible_by = C.int64_t(opts.VocabDivisibleBy)
		}
		if opts.MaxShardBytes != 0 {
			c.max_shard_bytes = C.uint64_t(opts.MaxShardBytes)
		}
		if opts.HFModel != "" {
			c.hf_model = C.CString(opts.HFModel)
			defer C.free(unsafe.Pointer(c.hf_model))
		}
		if opts.Family != "" {
			c.family = C.CString(opts.Family)
			defer C.free(unsafe.Pointer(c.family))
		}
		if opts.AllowUnused {
			c.allow_unused = 1
		}
		if opts.Progress != nil {
			progress = &progressCall{fn: opts.Progress}
			user, free := newHandle(progress)
			defer free()
			c.progress = C.progress_trampoline()
			c.user_data = user
		}
	}
	err := callThread(func() C.mb_status { return call(&c) })
	if progress != nil && progress.panic != nil {
		panic(progress.panic)
	}
	return err
}

// ImportCkpt converts a Hugging Face folder into a Megatron checkpoint (megatronPath must not exist, or
// be empty). opts may be nil.
func ImportCkpt(hfPath, megatronPath string, opts *ConvertOptions) error {
	src, dst := C.CString(hfPath), C.CString(megatronPath)
	defer C.free(unsafe.Pointer(src))
	defer C.free(unsafe.Pointer(dst))
	return convert(opts, func(c *C.mb_convert_options) C.mb_status { return C.mb_import_ckpt(src, dst, c) })
}

// ExportCkpt converts a Megatron checkpoint into a Hugging Face folder (hfPath must not exist).
func ExportCkpt(megatronPath, hfPath string, opts *ConvertOptions) error {
	src, dst := C.CString(megatronPath), C.CString(hfPath)
	defer C.free(unsafe.Pointer(src))
	defer C.free(unsafe.Pointer(dst))
	return convert(opts, func(c *C.mb_convert_options) C.mb_status { return C.mb_export_ckpt(src, dst, c) })
}

// Verify compares two models (Hugging Face folders or Megatron checkpoints, any layout) parameter by
// parameter: equal when every parameter agrees; report is the JSON report.
func Verify(a, b string) (equal bool, report string, err error) {
	ca, cb := C.CString(a), C.CString(b)
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(cb))
	var eq C.int
	var rep *C.char
	err = callThread(func() C.mb_status {
		st := C.mb_verify(ca, cb, &eq, &rep)
		report = C.GoString(rep) // valid until the next call on this thread
		return st
	})
	return eq != 0, report, err
}
