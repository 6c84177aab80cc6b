package mbridge

// Go functions the library calls back. The Go closure travels through C as a runtime/cgo.Handle stored in a
// small C allocation that user_data points to (an options struct in Go memory may not hold a Go pointer). A panic in a callback is caught here — it must
// not unwind through C frames — and re-raised by the Go caller after the C call returns.

/*
#include <stdlib.h>
#include <mbridge.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

type tokenCall struct {
	fn    func(Token) bool
	panic interface{}
}

// newTokenCall wraps onToken (nil: every token is taken) for goOnToken, with the handle user_data carries;
// free releases it after the C call.
func newTokenCall(onToken func(Token) bool) (call *tokenCall, user unsafe.Pointer, free func()) {
	call = &tokenCall{fn: onToken}
	if onToken == nil {
		call.fn = func(Token) bool { return true }
	}
	user, free = newHandle(call)
	return call, user, free
}

//export goOnToken
func goOnToken(sequence C.size_t, step C.int64_t, token C.int32_t, user unsafe.Pointer) C.int {
	call := cgo.Handle(*(*C.uintptr_t)(user)).Value().(*tokenCall)
	if call.panic != nil {
		return 0
	}
	goOn := false
	func() {
		defer func() {
			if p := recover(); p != nil {
				call.panic = p
			}
		}()
		goOn = call.fn(Token{Sequence: int(sequence), Step: int64(step), ID: int32(token)})
	}()
	if goOn {
		return 1
	}
	return 0
}

type progressCall struct {
	fn    func(stage string, done, total uint64) bool
	panic interface{}
}

//export goOnProgress
func goOnProgress(stage *C.char, done C.uint64_t, total C.uint64_t, user unsafe.Pointer) C.int {
	call := cgo.Handle(*(*C.uintptr_t)(user)).Value().(*progressCall)
	if call.panic != nil {
		return 1
	}
	goOn := false
	func() {
		defer func() {
			if p := recover(); p != nil {
				call.panic = p
			}
		}()
		goOn = call.fn(C.GoString(stage), uint64(done), uint64(total))
	}()
	if goOn {
		return 0
	}
	return 1 // non-zero cancels
}

// newHandle puts a Go value behind a C pointer for user_data; free releases both.
func newHandle(v interface{}) (user unsafe.Pointer, free func()) {
	h := cgo.NewHandle(v)
	p := (*C.uintptr_t)(C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0)))))
	*p = C.uintptr_t(h)
	return unsafe.Pointer(p), func() {
		h.Delete()
		C.free(unsafe.Pointer(p))
	}
}
