package mbridge

/*
#include <stdlib.h>
#include <mbridge.h>
extern int goOnToken(size_t sequence, int64_t step, int32_t token, void *user);
static mb_token_fn token_trampoline(void) { return (mb_token_fn)goOnToken; }
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Device is where a model's weights go.
type Device struct {
	CUDA  bool // false: the float32 CPU reference (exact, slow); true: bf16 weights on GPU Index
	Index int  // split over ranks (LoadModelParallel): every rank on GPU Index, or with -1 rank r on GPU r (NCCL)
}

// CPU is the float32 reference backend.
var CPU = Device{}

// Parallel splits a model over ranks that are threads of this process (on the CPU or GPUs), each holding only
// its part of the weights. The zero value is one rank.
type Parallel struct {
	TP             int  // tensor-parallel ranks (attention heads, MLP columns, vocabulary rows); 0 means 1
	PP             int  // pipeline stages (consecutive layers); 0 means 1
	ExpertParallel bool // with TP > 1: each rank holds whole experts of a mixture instead of columns of every one
	// OneProcessPerRank: this process is one rank of a run a launcher started (torchrun, mpirun, srun: rank and
	// world from their environment variables; TP x PP processes, each making the same calls; CUDA ranks take GPU
	// LOCAL_RANK). Otherwise the ranks are threads of this process inside the library.
	OneProcessPerRank bool
}

// Token is a token as generation chooses it.
type Token struct {
	Sequence int   // which prompt's sequence
	Step     int64 // 0 for the first new token
	ID       int32
}

// GenerateOptions: the zero value is greedy with the library's default length (16 new tokens).
type GenerateOptions struct {
	MaxNewTokens int64   // 0: the default (16)
	Temperature  float64 // 0: greedy
	TopK         int64   // 0: no limit
	TopP         float64 // 0 or 1: no limit
	Seed         uint64
	StopIDs      []int32 // a sequence ends after one of these (kept in its output)
}

// Model holds a model's weights on a backend.
type Model struct {
	mu  sync.Mutex
	raw *C.mb_model
}

// LoadModel reads every parameter of the bridge's model onto device; the bridge may be closed afterwards.
func LoadModel(b *Bridge, device Device) (*Model, error) {
	return LoadModelParallel(b, device, Parallel{})
}

// LoadModelParallel is LoadModel split over p.TP x p.PP ranks (every call then runs on all of them).
func LoadModelParallel(b *Bridge, device Device, p Parallel) (*Model, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.raw == nil {
		return nil, errClosed
	}
	o := C.mb_load_default_options()
	if p.TP > 0 {
		o.tp = C.int32_t(p.TP)
	}
	if p.PP > 0 {
		o.pp = C.int32_t(p.PP)
	}
	if p.ExpertParallel {
		o.expert_parallel = 1
	}
	if p.OneProcessPerRank {
		o.one_process_per_rank = 1
	}
	if device.CUDA {
		o.device = C.MB_DEVICE_CUDA
		o.device_index = C.int(device.Index)
	}
	m := &Model{}
	// A making call: the library keeps its message on the thread, not on the bridge.
	if err := callThread(func() C.mb_status { return C.mb_load_weights(&m.raw, b.raw, &o) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// VocabSize is the number of logits per position.
func (m *Model) VocabSize() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int(C.mb_model_vocab_size(m.raw))
}

func (m *Model) errmsg() *C.char { return C.mb_model_errmsg(m.raw) }

// Forward returns the logits of one sequence: len(ids) x VocabSize float32 values, row by row.
func (m *Model) Forward(ids []int32) ([]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, errClosed
	}
	var logits *C.float
	var p *C.int32_t
	if len(ids) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&ids[0]))
	}
	if err := check(C.mb_forward(m.raw, p, C.size_t(len(ids)), &logits), m.errmsg); err != nil {
		return nil, err
	}
	n := len(ids) * int(C.mb_model_vocab_size(m.raw))
	out := make([]float32, n)
	if n > 0 {
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(logits)), n))
	}
	return out, nil
}

// cOptions builds the C options; the stop ids live in C memory freed by the returned function.
func (o *GenerateOptions) cOptions() (C.mb_generate_options, func()) {
	c := C.mb_generate_default_options()
	if o == nil {
		return c, func() {}
	}
	if o.MaxNewTokens != 0 {
		c.max_new_tokens = C.int64_t(o.MaxNewTokens)
	}
	c.temperature = C.double(o.Temperature)
	c.top_k = C.int64_t(o.TopK)
	if o.TopP != 0 {
		c.top_p = C.double(o.TopP)
	}
	c.seed = C.uint64_t(o.Seed)
	if len(o.StopIDs) == 0 {
		return c, func() {}
	}
	stop := (*C.int32_t)(C.malloc(C.size_t(4 * len(o.StopIDs))))
	copy(unsafe.Slice((*int32)(unsafe.Pointer(stop)), len(o.StopIDs)), o.StopIDs)
	c.stop_ids, c.stop_count = stop, C.size_t(len(o.StopIDs))
	return c, func() { C.free(unsafe.Pointer(stop)) }
}

// Generate runs every prompt together (a batch) and returns each sequence's new tokens. onToken (may be
// nil) sees each token as it is chosen; returning false ends that sequence.
func (m *Model) Generate(prompts [][]int32, opts *GenerateOptions, onToken func(Token) bool) ([][]int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, errClosed
	}
	// The prompt table holds pointers, so it must be C memory (cgo forbids Go pointers to Go pointers).
	n := len(prompts)
	total := 0
	for _, p := range prompts {
		total += len(p)
	}
	ids := (*C.int32_t)(C.malloc(C.size_t(4*total + 1)))
	defer C.free(unsafe.Pointer(ids))
	table := (**C.int32_t)(C.malloc(C.size_t(int(unsafe.Sizeof(uintptr(0)))*n + 1)))
	defer C.free(unsafe.Pointer(table))
	lengths := (*C.size_t)(C.malloc(C.size_t(int(unsafe.Sizeof(C.size_t(0)))*n + 1)))
	defer C.free(unsafe.Pointer(lengths))
	idSlice := unsafe.Slice((*int32)(unsafe.Pointer(ids)), total)
	tableSlice := unsafe.Slice(table, n)
	lengthSlice := unsafe.Slice(lengths, n)
	at := 0
	for i, p := range prompts {
		copy(idSlice[at:], p)
		tableSlice[i] = (*C.int32_t)(unsafe.Add(unsafe.Pointer(ids), 4*at))
		lengthSlice[i] = C.size_t(len(p))
		at += len(p)
	}
	c, free := opts.cOptions()
	defer free()
	call, user, freeUser := newTokenCall(onToken)
	defer freeUser()
	var generated *C.int32_t
	var generatedLengths *C.size_t
	st := C.mb_generate(m.raw, table, lengths, C.size_t(n), &c, C.token_trampoline(), user,
		&generated, &generatedLengths)
	if call.panic != nil {
		panic(call.panic)
	}
	if err := check(st, m.errmsg); err != nil {
		return nil, err
	}
	// Copied now: the library's buffers live until the next call on this handle.
	out := make([][]int32, n)
	counts := unsafe.Slice(generatedLengths, n)
	at = 0
	for i := range out {
		k := int(counts[i])
		out[i] = make([]int32, k)
		if k > 0 {
			copy(out[i], unsafe.Slice((*int32)(unsafe.Add(unsafe.Pointer(generated), 4*at)), k))
		}
		at += k
	}
	return out, nil
}

// GenerateWithImages runs one prompt with image files (LLaVA, Qwen2.5-VL): the files decoded and prepared as
// the model's processor does, with processorDir's preprocessor_config.json ("" for the processor's defaults),
// the prompt's image tokens (one per image, or already one per token each image fills) expanded, then generated.
// It returns the new tokens.
func (m *Model) GenerateWithImages(prompt []int32, imagePaths []string, processorDir string, opts *GenerateOptions,
	onToken func(Token) bool) ([]int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, errClosed
	}
	ids := (*C.int32_t)(C.malloc(C.size_t(4*len(prompt) + 1)))
	defer C.free(unsafe.Pointer(ids))
	copy(unsafe.Slice((*int32)(unsafe.Pointer(ids)), len(prompt)), prompt)
	paths := (**C.char)(C.malloc(C.size_t(int(unsafe.Sizeof(uintptr(0)))*len(imagePaths) + 1)))
	defer C.free(unsafe.Pointer(paths))
	pathSlice := unsafe.Slice(paths, len(imagePaths))
	for i, p := range imagePaths {
		pathSlice[i] = C.CString(p)
		defer C.free(unsafe.Pointer(pathSlice[i]))
	}
	var dir *C.char
	if processorDir != "" {
		dir = C.CString(processorDir)
		defer C.free(unsafe.Pointer(dir))
	}
	c, free := opts.cOptions()
	defer free()
	call, user, freeUser := newTokenCall(onToken)
	defer freeUser()
	var generated *C.int32_t
	var count C.size_t
	st := C.mb_generate_with_images(m.raw, ids, C.size_t(len(prompt)), paths, C.size_t(len(imagePaths)), dir, &c,
		C.token_trampoline(), user, &generated, &count)
	if call.panic != nil {
		panic(call.panic)
	}
	if err := check(st, m.errmsg); err != nil {
		return nil, err
	}
	out := make([]int32, int(count))
	if count > 0 {
		copy(out, unsafe.Slice((*int32)(unsafe.Pointer(generated)), int(count)))
	}
	return out, nil
}

// Close frees the weights.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw != nil {
		C.mb_model_free(m.raw)
		m.raw = nil
	}
	runtime.SetFinalizer(m, nil)
	return nil
}
