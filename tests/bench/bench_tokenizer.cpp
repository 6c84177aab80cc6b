// Encode throughput of mbridge's tokenizer on the tokenizer test corpus (one thread, one string at a time,
// as a generation server tokenizes prompts), for comparison with Hugging Face tokenizers on the same
// machine (tests/bench/bench_tokenizer_hf.js or the Python reference script's encode_speed.json).
// usage: bench_tokenizer TOKENIZER_DIR CORPUS_JSONL [REPEATS=5]
// Prints one JSON line: {"tokenizer", "strings", "bytes", "tokens", "best_seconds", "MBps", "strings_per_s"}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "io/json.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR CORPUS_JSONL [REPEATS]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  auto tok = mb::Tokenizer::load(argv[1]);
  std::vector<std::string> corpus;
  std::ifstream in(argv[2]);
  std::string line;
  size_t bytes = 0;
  while (std::getline(in, line))
    if (!line.empty()) {
      corpus.push_back(mb::json::parse(line, argv[2]).as_string());
      bytes += corpus.back().size();
    }
  double best = 1e30;
  size_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    tokens = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const std::string& s : corpus) tokens += tok->encode(s).size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("{\"tokenizer\": \"%s\", \"strings\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"best_seconds\": %.4f, "
              "\"MBps\": %.2f, \"strings_per_s\": %.0f}\n",
              argv[1], corpus.size(), bytes, tokens, best, static_cast<double>(bytes) / best / 1e6,
              static_cast<double>(corpus.size()) / best);
  return 0;
}
