package mbridge

/*
#include <stdlib.h>
#include <mbridge.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Tokenizer encodes and decodes with a Hugging Face tokenizer.json, as the tokenizers library does.
type Tokenizer struct {
	mu  sync.Mutex
	raw *C.mb_tokenizer
}

// LoadTokenizer reads a tokenizer.json, or a folder holding one (with tokenizer_config.json and
// generation_config.json when present).
func LoadTokenizer(path string) (*Tokenizer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	t := &Tokenizer{}
	if err := callThread(func() C.mb_status { return C.mb_tokenizer_load(&t.raw, cpath) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(t, (*Tokenizer).Close)
	return t, nil
}

func (t *Tokenizer) errmsg() *C.char { return C.mb_tokenizer_errmsg(t.raw) }

// Encode returns the ids of text; addSpecialTokens adds what the post-processor adds (BOS for Llama).
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) ([]int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raw == nil {
		return nil, errClosed
	}
	ctext := C.CString(text) // C memory: text may contain NUL bytes, its length is passed
	defer C.free(unsafe.Pointer(ctext))
	var ids *C.int32_t
	var n C.size_t
	if err := check(C.mb_tokenizer_encode(t.raw, ctext, C.size_t(len(text)), cbool(addSpecialTokens), &ids, &n), t.errmsg); err != nil {
		return nil, err
	}
	out := make([]int32, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*int32)(unsafe.Pointer(ids)), int(n)))
	}
	return out, nil
}

// Decode returns the text of ids.
func (t *Tokenizer) Decode(ids []int32, skipSpecialTokens bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raw == nil {
		return "", errClosed
	}
	var p *C.int32_t
	if len(ids) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&ids[0]))
	}
	var text *C.char
	var n C.size_t
	if err := check(C.mb_tokenizer_decode(t.raw, p, C.size_t(len(ids)), cbool(skipSpecialTokens), &text, &n), t.errmsg); err != nil {
		return "", err
	}
	return C.GoStringN(text, C.int(n)), nil
}

// TokenToID is the id of a token, false when there is none.
func (t *Tokenizer) TokenToID(token string) (int32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctoken := C.CString(token)
	defer C.free(unsafe.Pointer(ctoken))
	id := int32(C.mb_tokenizer_token_to_id(t.raw, ctoken))
	return id, id >= 0
}

// IDToToken is the token of an id, false for an unknown id.
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := C.mb_tokenizer_id_to_token(t.raw, C.int32_t(id))
	if p == nil {
		return "", false
	}
	return C.GoString(p), true
}

// Close frees the tokenizer.
func (t *Tokenizer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raw != nil {
		C.mb_tokenizer_free(t.raw)
		t.raw = nil
	}
	runtime.SetFinalizer(t, nil)
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
