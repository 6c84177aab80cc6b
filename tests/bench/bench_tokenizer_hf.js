// Encode throughput of Hugging Face tokenizers (its official Node binding, npm `tokenizers`: the Rust core)
// on the tokenizer test corpus, one string at a time, best of REPEATS: the counterpart of bench_tokenizer.
// usage: NODE_PATH=FOLDER/node_modules node tests/bench/bench_tokenizer_hf.js TOKENIZER_JSON CORPUS_JSONL [REPEATS=5]
const fs = require("fs");
const { Tokenizer } = require("tokenizers");

async function main() {
  const [file, corpusPath, repeatsArg] = process.argv.slice(2);
  const repeats = Number(repeatsArg || 5);
  const tok = Tokenizer.fromFile(file);
  const corpus = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
  const bytes = corpus.reduce((n, s) => n + Buffer.byteLength(s, "utf8"), 0);
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeats; ++r) {
    tokens = 0;
    const t0 = process.hrtime.bigint();
    for (const s of corpus) tokens += (await tok.encode(s)).getIds().length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ tokenizer: file, strings: corpus.length, bytes, tokens, best_seconds: +best.toFixed(4),
                               MBps: +(bytes / best / 1e6).toFixed(2), strings_per_s: Math.round(corpus.length / best) }));
}

main();
