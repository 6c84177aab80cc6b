package mbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestOpenAndList(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty version")
	}
	var supported struct {
		Families []struct{ Family string } `json:"families"`
	}
	if err := json.Unmarshal([]byte(ListSupported()), &supported); err != nil || len(supported.Families) == 0 {
		t.Fatalf("ListSupported: %v %s", err, ListSupported())
	}
	models := hfModels(t)
	for _, family := range sortedKeys(models) {
		if ok, reason, err := CanHandle(models[family]); !ok || err != nil {
			t.Fatalf("%s: CanHandle %v %q %v", family, ok, reason, err)
		}
		b, err := Open(models[family], nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.Info()
		if err != nil {
			t.Fatal(err)
		}
		var desc struct {
			Source     string `json:"source"`
			Family     string `json:"family"`
			Parameters int    `json:"megatron_parameters"`
		}
		if err := json.Unmarshal([]byte(info), &desc); err != nil || desc.Source != "hf" {
			t.Fatalf("%s: info %v %s", family, err, info)
		}
		it, err := b.Export(TargetMegatron)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != nil || n != desc.Parameters {
			t.Fatalf("%s: listed %d parameters (info says %d): %v", family, n, desc.Parameters, it.Err())
		}
		b.Close() // also frees the iterator
		if _, err := b.Info(); err == nil {
			t.Fatal("Info on a closed bridge must fail")
		}
	}
}

func TestStreamingExportEqualsSource(t *testing.T) {
	models := hfModels(t)
	for _, family := range sortedKeys(models) {
		source := readFolder(t, models[family])
		b, err := Open(models[family], nil)
		if err != nil {
			t.Fatal(err)
		}
		it, err := b.Export(TargetHF)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for it.Next() {
			got := it.Tensor()
			want, ok := source[got.Name]
			if !ok {
				t.Fatalf("%s: %s is not in the source", family, got.Name)
			}
			if got.DType.String() != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("%s: %s differs from the source (%s%v vs %s%v)", family, got.Name, got.DType, got.Shape, want.DType, want.Shape)
			}
			seen[got.Name] = true
		}
		if err := it.Err(); err != nil {
			t.Fatalf("%s: %v", family, err)
		}
		if len(seen) != len(source) {
			t.Fatalf("%s: streamed %d of %d tensors", family, len(seen), len(source))
		}
		it.Close()
		b.Close()
	}
}

func TestRoundTripIsBitExact(t *testing.T) {
	src := filepath.Join(fixtures(t), "bridge", "hf", "llama31")
	work := t.TempDir()
	megatron, back := filepath.Join(work, "megatron"), filepath.Join(work, "hf")
	var progressed uint64
	opts := &ConvertOptions{TP: 2, PP: 2, Progress: func(stage string, done, total uint64) bool {
		progressed = done
		return true
	}}
	if err := ImportCkpt(src, megatron, opts); err != nil {
		t.Fatal(err)
	}
	if progressed == 0 {
		t.Fatal("no progress reported")
	}
	if err := ExportCkpt(megatron, back, opts); err != nil {
		t.Fatal(err)
	}
	a, b := readFolder(t, src), readFolder(t, back)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the round trip changed tensors")
	}
	equal, report, err := Verify(src, megatron)
	if err != nil || !equal || !strings.Contains(report, `"params"`) {
		t.Fatalf("Verify: %v %v %s", equal, err, report)
	}
	// Legacy format with expert parallelism.
	moe := filepath.Join(fixtures(t), "bridge", "hf", "qwen3_moe")
	legacy := &ConvertOptions{Format: Legacy, TP: 2, EP: 2}
	if err := ImportCkpt(moe, filepath.Join(work, "moe"), legacy); err != nil {
		t.Fatal(err)
	}
	if err := ExportCkpt(filepath.Join(work, "moe"), filepath.Join(work, "moe-hf"), legacy); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(readFolder(t, moe), readFolder(t, filepath.Join(work, "moe-hf"))) {
		t.Fatal("the MoE round trip changed tensors")
	}
}

func TestGreedyGenerationEqualsTransformers(t *testing.T) {
	const newTokens = 16
	models := hfModels(t)
	for _, family := range sortedKeys(models) {
		cases := greedyCases(t, models[family]+".greedy.safetensors")
		b, err := Open(models[family], nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(b, CPU)
		b.Close() // the model keeps what it needs
		if err != nil {
			t.Fatal(err)
		}
		var prompts [][]int32
		for _, c := range cases {
			prompts = append(prompts, c.prompt)
		}
		streamed := make([][]int32, len(prompts))
		out, err := m.Generate(prompts, &GenerateOptions{MaxNewTokens: newTokens}, func(tok Token) bool {
			if int(tok.Step) != len(streamed[tok.Sequence]) {
				t.Errorf("%s: step %d out of order", family, tok.Step)
			}
			streamed[tok.Sequence] = append(streamed[tok.Sequence], tok.ID)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			if !reflect.DeepEqual(out[i], c.greedy[:newTokens]) {
				t.Fatalf("%s prompt %d: %v, transformers %v", family, i, out[i], c.greedy[:newTokens])
			}
			if !reflect.DeepEqual(streamed[i], out[i]) {
				t.Fatalf("%s prompt %d: the callback saw %v", family, i, streamed[i])
			}
		}
		m.Close()
	}
}

func TestParallelRanksGiveTheSameTokens(t *testing.T) {
	dir := filepath.Join(fixtures(t), "bridge", "hf", "qwen3_moe")
	cases := greedyCases(t, dir+".greedy.safetensors")
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, p := range []Parallel{{TP: 2, PP: 2}, {TP: 2, ExpertParallel: true}} {
		m, err := LoadModelParallel(b, CPU, p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Generate([][]int32{cases[0].prompt}, &GenerateOptions{MaxNewTokens: 16}, nil)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out[0], cases[0].greedy[:16]) {
			t.Fatalf("%+v: %v, transformers %v", p, out[0], cases[0].greedy[:16])
		}
	}
	_, err = LoadModelParallel(b, CPU, Parallel{TP: 3})
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrInvalidArgument || !strings.Contains(e.Message, "tensor parallel 3") {
		t.Fatalf("TP 3: %v", err)
	}
}

func TestCallbackStopsAndPanics(t *testing.T) {
	b, err := Open(filepath.Join(fixtures(t), "bridge", "hf", "llama2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := LoadModel(b, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, err := m.Generate([][]int32{{1, 17, 42}}, nil, func(tok Token) bool { return tok.Step < 2 })
	if err != nil || len(out[0]) != 3 {
		t.Fatalf("stop after 3 tokens: %v %v", out, err)
	}
	_, err = m.Generate([][]int32{{}}, nil, nil)
	if !errors.Is(err, ErrInvalidArgument) || err.(*Error).Message == "" {
		t.Fatalf("empty prompt: %v", err)
	}
	if CudaDeviceCount() == 0 {
		_, err := LoadModel(b, Device{CUDA: true})
		if !(errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCUDA)) || err.(*Error).Message == "" {
			t.Fatalf("CUDA load without a GPU: %v", err)
		}
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("the callback's panic should reach the caller, got %v", p)
		}
	}()
	m.Generate([][]int32{{1, 2}}, nil, func(Token) bool { panic("boom") })
}

func TestErrorsCarryTheCMessage(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(filepath.Join(dir, "no-such-model"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrNotFound || !strings.Contains(e.Message, "no-such-model") {
		t.Fatalf("missing path: %v", err)
	}
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrFormat) {
		t.Fatal("errors.Is must match the status")
	}
	// A truncated safetensors file.
	src := filepath.Join(fixtures(t), "bridge", "hf", "llama2")
	corrupt := filepath.Join(dir, "corrupt")
	os.Mkdir(corrupt, 0o755)
	config, _ := os.ReadFile(filepath.Join(src, "config.json"))
	weights, _ := os.ReadFile(filepath.Join(src, "model.safetensors"))
	os.WriteFile(filepath.Join(corrupt, "config.json"), config, 0o644)
	os.WriteFile(filepath.Join(corrupt, "model.safetensors"), weights[:len(weights)/2], 0o644)
	_, err = Open(corrupt, nil)
	if !errors.As(err, &e) || e.Status != ErrFormat || !strings.Contains(e.Message, "model.safetensors") {
		t.Fatalf("corrupt file: %v", err)
	}
	if !strings.Contains(err.Error(), "(-3)") {
		t.Fatalf("Error() should show the code: %s", err)
	}
	// Conversions: an occupied output, a layout that does not fit, cancellation.
	os.WriteFile(filepath.Join(dir, "occupied"), []byte("x"), 0o644)
	if err := ImportCkpt(src, dir, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("occupied output: %v", err)
	}
	if err := ImportCkpt(src, filepath.Join(dir, "tp3"), &ConvertOptions{TP: 3}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("tp=3: %v", err)
	}
	cancel := &ConvertOptions{Progress: func(string, uint64, uint64) bool { return false }}
	if err := ImportCkpt(src, filepath.Join(dir, "cancelled"), cancel); !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cancelled", "latest_checkpointed_iteration.txt")); err == nil {
		t.Fatal("a cancelled import left a checkpoint")
	}
}

func TestTokenizer(t *testing.T) {
	tok, err := LoadTokenizer(filepath.Join(fixtures(t), "bridge", "hf", "llama31"))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	// The fixture's tokenizer is tiny (64 byte-level BPE tokens): text made of its letters.
	text := "hello megatron and hugging face, this is a bridge"
	ids, err := tok.Encode(text, false)
	if err != nil || len(ids) == 0 {
		t.Fatal(ids, err)
	}
	back, err := tok.Decode(ids, false)
	if err != nil || back != text {
		t.Fatalf("decode: %q %v", back, err)
	}
	first, ok := tok.IDToToken(ids[0])
	if id, ok2 := tok.TokenToID(first); !ok || !ok2 || id != ids[0] {
		t.Fatalf("token %q <-> id %d", first, ids[0])
	}
	if _, ok := tok.TokenToID("<not a token>"); ok {
		t.Fatal("unknown token found")
	}
	if _, err := LoadTokenizer(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing tokenizer: %v", err)
	}
}

// An image file prompt (tests/fixtures/vlm, Qwen2.5-VL): the fixture's third greedy case, its run of image
// tokens cut to one as a chat template writes it, with the JPEG it was made from, gives transformers' tokens.
func TestGenerateWithImagesEqualsTransformers(t *testing.T) {
	const imageToken = 251 // image_token_id of the fixture's config.json
	vlm := filepath.Join(fixtures(t), "vlm")
	c := greedyCases(t, filepath.Join(vlm, "qwen2_5_vl.greedy.safetensors"))[2]
	var prompt []int32
	for _, id := range c.prompt {
		if id == imageToken && len(prompt) > 0 && prompt[len(prompt)-1] == imageToken {
			continue
		}
		prompt = append(prompt, id)
	}
	dir := filepath.Join(vlm, "qwen2_5_vl")
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(b, CPU)
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	image := filepath.Join(vlm, "images", "square.jpg")
	out, err := m.GenerateWithImages(prompt, []string{image}, dir, &GenerateOptions{MaxNewTokens: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, c.greedy[:16]) {
		t.Fatalf("%v, transformers %v", out, c.greedy[:16])
	}
	_, err = m.GenerateWithImages([]int32{5, imageToken, imageToken}, []string{image}, "", nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrInvalidArgument {
		t.Fatalf("two image tokens for one image: %v", err)
	}
}
