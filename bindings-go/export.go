package mbridge

/*
#include <mbridge.h>
*/
import "C"

import "runtime"

// Target is what an export streams.
type Target int

const (
	TargetHF       Target = C.MB_TARGET_HF       // Hugging Face tensors and names
	TargetMegatron Target = C.MB_TARGET_MEGATRON // full Megatron parameters, Transformer Engine names
)

// Export streams a model one converted tensor at a time:
//
//	it, err := bridge.Export(mbridge.TargetHF)
//	defer it.Close()
//	for it.Next() { t := it.Tensor() }
//	if err := it.Err(); err != nil { ... }
//
// After the last tensor it checks that the source had no unused tensors; that is an error from Err.
type Export struct {
	b    *Bridge
	raw  *C.mb_export
	cur  Tensor
	err  error
	done bool
}

// Export begins streaming. The iterator shares the bridge's lock: the C API treats the pair as one handle.
func (b *Bridge) Export(target Target) (*Export, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.raw == nil {
		return nil, errClosed
	}
	it := &Export{b: b}
	if err := check(C.mb_export_begin(&it.raw, b.raw, C.mb_target(target)), b.errmsg); err != nil {
		return nil, err
	}
	b.iters[it] = struct{}{}
	runtime.SetFinalizer(it, (*Export).Close)
	return it, nil
}

// Next moves to the next tensor; false at the end or on an error (see Err).
func (it *Export) Next() bool {
	it.b.mu.Lock()
	defer it.b.mu.Unlock()
	if it.done || it.raw == nil {
		if it.raw == nil && !it.done && it.err == nil {
			it.err = errClosed
		}
		return false
	}
	var v C.mb_tensor_view
	st := C.mb_export_next(it.raw, &v)
	if st == C.MB_DONE {
		it.done = true
		return false
	}
	if err := check(st, func() *C.char { return C.mb_export_errmsg(it.raw) }); err != nil {
		it.err, it.done = err, true // the C iterator would keep returning the same error
		return false
	}
	it.cur = tensorOf(&v) // a copy: the view dies at the next call
	return true
}

// Tensor is the current tensor (an owned copy).
func (it *Export) Tensor() Tensor { return it.cur }

// Err is the error that ended the iteration, nil after a complete one.
func (it *Export) Err() error { return it.err }

// Close frees the iterator (before its bridge; Bridge.Close does it too).
func (it *Export) Close() error {
	it.b.mu.Lock()
	defer it.b.mu.Unlock()
	it.free()
	return nil
}

func (it *Export) free() { // with it.b.mu held
	if it.raw != nil {
		C.mb_export_free(it.raw)
		it.raw = nil
	}
	it.done = true
	delete(it.b.iters, it)
	runtime.SetFinalizer(it, nil)
}
