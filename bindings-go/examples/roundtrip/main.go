// Command roundtrip converts a Hugging Face folder to Megatron and back, then checks every parameter
// (Megatron-Bridge's hf_megatron_roundtrip.py). usage: roundtrip HF_DIR OUT_DIR [TP PP]
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"mbridge"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: roundtrip HF_DIR OUT_DIR [TP PP]")
		os.Exit(2)
	}
	hf, out := os.Args[1], os.Args[2]
	opts := &mbridge.ConvertOptions{}
	if len(os.Args) > 4 {
		opts.TP, _ = strconv.Atoi(os.Args[3])
		opts.PP, _ = strconv.Atoi(os.Args[4])
	}
	megatron, back := filepath.Join(out, "megatron"), filepath.Join(out, "hf")
	if err := mbridge.ImportCkpt(hf, megatron, opts); err != nil {
		fail(err)
	}
	if err := mbridge.ExportCkpt(megatron, back, opts); err != nil {
		fail(err)
	}
	equal, _, err := mbridge.Verify(hf, back)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s -> %s -> %s: equal=%v\n", hf, megatron, back, equal)
	if !equal {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
