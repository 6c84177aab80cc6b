// Command generate runs greedy generation on the CPU from a Hugging Face folder or a Megatron checkpoint,
// printing each token as it is chosen (Megatron-Bridge's hf_to_megatron_generate_text.py).
// usage: generate MODEL TOKENIZER_DIR PROMPT [MAX_NEW_TOKENS]
package main

import (
	"fmt"
	"os"
	"strconv"

	"mbridge"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: generate MODEL TOKENIZER_DIR PROMPT [MAX_NEW_TOKENS]")
		os.Exit(2)
	}
	tok, err := mbridge.LoadTokenizer(os.Args[2])
	check(err)
	defer tok.Close()
	prompt, err := tok.Encode(os.Args[3], true)
	check(err)
	bridge, err := mbridge.Open(os.Args[1], nil)
	check(err)
	model, err := mbridge.LoadModel(bridge, mbridge.CPU)
	bridge.Close()
	check(err)
	defer model.Close()
	opts := &mbridge.GenerateOptions{MaxNewTokens: 16}
	if len(os.Args) > 4 {
		opts.MaxNewTokens, _ = strconv.ParseInt(os.Args[4], 10, 64)
	}
	out, err := model.Generate([][]int32{prompt}, opts, func(t mbridge.Token) bool {
		fmt.Fprintf(os.Stderr, "token %d: %d\n", t.Step, t.ID)
		return true
	})
	check(err)
	text, err := tok.Decode(out[0], true)
	check(err)
	fmt.Println(os.Args[3] + text)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
