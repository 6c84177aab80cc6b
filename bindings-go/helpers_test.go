package mbridge

// Test support: fixture paths and an independent safetensors reader (the oracle; it does not go through
// mbridge).

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func fixtures(t *testing.T) string {
	dir := os.Getenv("MBRIDGE_FIXTURES")
	if dir == "" {
		dir = filepath.Join("..", "tests", "fixtures")
	}
	if _, err := os.Stat(filepath.Join(dir, "bridge", "hf")); err != nil {
		t.Fatalf("no fixtures: %v", err)
	}
	return dir
}

// hfModels is every Hugging Face fixture with a greedy reference: family -> folder.
func hfModels(t *testing.T) map[string]string {
	root := filepath.Join(fixtures(t), "bridge", "hf")
	matches, _ := filepath.Glob(filepath.Join(root, "*.greedy.safetensors"))
	if len(matches) < 5 {
		t.Fatalf("expected the fixture families under %s, found %d", root, len(matches))
	}
	out := map[string]string{}
	for _, m := range matches {
		family := strings.TrimSuffix(filepath.Base(m), ".greedy.safetensors")
		out[family] = filepath.Join(root, family)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type stTensor struct {
	DType string
	Shape []int64
	Data  []byte
}

func readSafetensors(t *testing.T, path string) map[string]stTensor {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data := raw[8+n:]
	out := map[string]stTensor{}
	for name, entry := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType       string  `json:"dtype"`
			Shape       []int64 `json:"shape"`
			DataOffsets [2]int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(entry, &e); err != nil {
			t.Fatal(err)
		}
		out[name] = stTensor{e.DType, e.Shape, data[e.DataOffsets[0]:e.DataOffsets[1]]}
	}
	return out
}

func readFolder(t *testing.T, dir string) map[string]stTensor {
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	out := map[string]stTensor{}
	for _, f := range files {
		for k, v := range readSafetensors(t, f) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		t.Fatalf("no safetensors in %s", dir)
	}
	return out
}

func idsOf(t *testing.T, s stTensor) []int32 {
	if s.DType != "I64" {
		t.Fatalf("ids: dtype %s", s.DType)
	}
	out := make([]int32, len(s.Data)/8)
	for i := range out {
		out[i] = int32(int64(binary.LittleEndian.Uint64(s.Data[8*i:])))
	}
	return out
}

type greedyCase struct{ prompt, greedy []int32 }

// greedyCases reads <family>.greedy.safetensors: prompt_i and the tokens transformers chose greedily.
func greedyCases(t *testing.T, path string) []greedyCase {
	file := readSafetensors(t, path)
	var cases []greedyCase
	for i := 0; ; i++ {
		p, ok1 := file["prompt_"+itoa(i)]
		g, ok2 := file["greedy_"+itoa(i)]
		if !ok1 || !ok2 {
			break
		}
		cases = append(cases, greedyCase{idsOf(t, p), idsOf(t, g)})
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

func itoa(i int) string { return strconv.Itoa(i) }
