package mbridge

/*
#include <stdlib.h>
#include <mbridge.h>
*/
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// BridgeOptions says how to read a Megatron checkpoint; a Hugging Face folder ignores it.
type BridgeOptions struct {
	HFModel string // a config.json (or its folder) describing the model; "": the one stored at import
	Family  string // the family to read Megatron args as; "": guessed
}

// Bridge is an opened model: a Hugging Face folder or a Megatron checkpoint.
type Bridge struct {
	mu    sync.Mutex // the C API allows one thread at a time on a handle (and its iterators)
	raw   *C.mb_bridge
	iters map[*Export]struct{}
}

var errClosed = errors.New("mbridge: use of a closed handle")

// Open opens a Hugging Face folder or a Megatron checkpoint (opts may be nil). It reads the configs and
// indexes, not the weights.
func Open(path string, opts *BridgeOptions) (*Bridge, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	o := C.mb_bridge_default_options()
	if opts != nil && opts.HFModel != "" {
		o.hf_model = C.CString(opts.HFModel)
		defer C.free(unsafe.Pointer(o.hf_model))
	}
	if opts != nil && opts.Family != "" {
		o.family = C.CString(opts.Family)
		defer C.free(unsafe.Pointer(o.family))
	}
	var raw *C.mb_bridge
	if err := callThread(func() C.mb_status { return C.mb_bridge_open(&raw, cpath, &o) }); err != nil {
		return nil, err
	}
	b := &Bridge{raw: raw, iters: map[*Export]struct{}{}}
	runtime.SetFinalizer(b, (*Bridge).Close)
	return b, nil
}

// Info is the model as JSON: family, architecture, Megatron TransformerConfig, Hugging Face config, layout.
func (b *Bridge) Info() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.raw == nil {
		return "", errClosed
	}
	var json *C.char
	if err := check(C.mb_bridge_info(b.raw, &json), b.errmsg); err != nil {
		return "", err
	}
	return C.GoString(json), nil
}

func (b *Bridge) errmsg() *C.char { return C.mb_bridge_errmsg(b.raw) }

// Close frees the bridge and any export iterators still open on it (the C API needs them freed first).
func (b *Bridge) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for it := range b.iters {
		it.free()
	}
	if b.raw != nil {
		C.mb_bridge_free(b.raw)
		b.raw = nil
	}
	runtime.SetFinalizer(b, nil)
	return nil
}

// CanHandle says whether a Hugging Face config.json (or its folder) describes a model mbridge converts;
// reason says why not. A config that cannot be read is an error.
func CanHandle(configPath string) (ok bool, reason string, err error) {
	cpath := C.CString(configPath)
	defer C.free(unsafe.Pointer(cpath))
	var supported C.int
	var why *C.char
	err = callThread(func() C.mb_status {
		st := C.mb_can_handle(cpath, &supported, &why)
		reason = C.GoString(why) // valid until the next call on this thread: read while still locked
		return st
	})
	return supported != 0, reason, err
}
