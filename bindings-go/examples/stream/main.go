// Command stream lists a model's converted tensors one at a time without writing files (Megatron-Bridge's
// export_hf_weights). usage: stream MODEL [hf|megatron]
package main

import (
	"fmt"
	"os"

	"mbridge"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stream MODEL [hf|megatron]")
		os.Exit(2)
	}
	target := mbridge.TargetHF
	if len(os.Args) > 2 && os.Args[2] == "megatron" {
		target = mbridge.TargetMegatron
	}
	bridge, err := mbridge.Open(os.Args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer bridge.Close()
	it, err := bridge.Export(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer it.Close()
	count, bytes := 0, 0
	for it.Next() {
		t := it.Tensor()
		fmt.Printf("%-60s %5s %v\n", t.Name, t.DType, t.Shape)
		count, bytes = count+1, bytes+len(t.Data)
	}
	if err := it.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d tensors, %d bytes\n", count, bytes)
}
