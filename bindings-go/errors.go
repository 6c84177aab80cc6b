package mbridge

/*
#include <mbridge.h>
*/
import "C"

import (
	"fmt"
	"runtime"
)

// Status is the kind of failure a call reported (an mb_status below zero). It is an error itself, so
// errors.Is(err, ErrFormat) matches any *Error with that status.
type Status int

const (
	ErrInvalidArgument Status = C.MB_ERR_INVALID_ARGUMENT
	ErrIO              Status = C.MB_ERR_IO
	ErrFormat          Status = C.MB_ERR_FORMAT // a malformed, truncated or hostile file
	ErrUnsupported     Status = C.MB_ERR_UNSUPPORTED
	ErrNotFound        Status = C.MB_ERR_NOT_FOUND
	ErrOutOfMemory     Status = C.MB_ERR_OUT_OF_MEMORY
	ErrCancelled       Status = C.MB_ERR_CANCELLED // a progress callback asked to stop
	ErrCUDA            Status = C.MB_ERR_CUDA
	ErrInternal        Status = C.MB_ERR_INTERNAL      // a bug in mbridge
	ErrAccessDenied    Status = C.MB_ERR_ACCESS_DENIED // the Hugging Face Hub refused: gated or private model, bad token
	ErrNetwork         Status = C.MB_ERR_NETWORK       // the Hugging Face Hub could not be reached, or a transfer failed
)

func (s Status) Error() string { return C.GoString(C.mb_status_string(C.mb_status(s))) }

// Error is a failed call: its status and the library's message (naming the file, tensor and cause).
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Status.Error(), int(e.Status), e.Message)
}

// Unwrap makes errors.Is(err, mbridge.ErrNotFound) work.
func (e *Error) Unwrap() error { return e.Status }

func check(status C.mb_status, message func() *C.char) error {
	if status >= 0 {
		return nil
	}
	return &Error{Status: Status(status), Message: C.GoString(message())}
}

// callThread runs a call whose message is kept only per OS thread (calls without a handle, and calls that
// make one): the goroutine stays on one thread from the call to reading mb_last_error.
func callThread(call func() C.mb_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(call(), func() *C.char { return C.mb_last_error() })
}
