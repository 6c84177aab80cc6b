// mbridge compare --hf-model DIR (--megatron-path DIR | --reference FILE) [...]: the seed's compare.py. Runs
// both models (or one model and saved logits) on the same prompt, on the CPU reference backend or the GPU
// (--device), and reports how far their logits are apart and whether their greedy tokens agree.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bridge/param_source.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/prompt_input.h"
#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/model.h"
#include "engine/sampling.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tokenizer/tokenizer.h"

namespace mb::cli {
namespace {

json::Value top5(const float* logits, int64_t vocab) {
  json::Value out = json::Value::array();
  for (auto [id, value] : engine::top_logits(logits, vocab, 5)) {
    json::Value e = json::Value::array();
    e.push(int64_t{id});
    e.push(double{value});
    out.push(std::move(e));
  }
  return out;
}

// The prompt's logits, and with --debug-hooks DIR every module's record as one JSON line in DIR/NAME.jsonl.
std::vector<float> run_forward(engine::Model& model, const PromptInput& prompt, const Args& args,
                               const std::string& name, json::Value* written) {
  const auto dir = args.get("debug-hooks");
  if (!dir) return prompt.images.empty() ? model.forward(prompt.ids) : model.forward(prompt.ids, prompt.images);
  if (!prompt.images.empty()) fail(Status::kUnsupported, "--debug-hooks with --image (module records are of text prompts)");
  std::string lines;
  std::vector<float> logits =
      model.forward_traced(prompt.ids, [&](const engine::ModuleRecord& r) { lines += json::dump(engine::to_json(r)) + "\n"; });
  make_directories(*dir);
  const std::string path = join_path(*dir, name + ".jsonl");
  write_file_atomic(path, lines);
  written->push(path);
  return logits;
}

}  // namespace

int compare_logits(const Args& args) {
  const std::string hf = *model_option(args, "hf-model", hub::Need::kModel);
  const auto megatron = args.get("megatron-path"), reference = args.get("reference");
  if (megatron.has_value() == reference.has_value())
    fail(Status::kInvalidArgument, "compare --hf-model needs exactly one of --megatron-path and --reference");

  const std::string device = args.get("device").value_or("cpu");
  std::unique_ptr<engine::Model> a = engine::load_model(*bridge::open_hf_source(hf), device);
  const int64_t V = a->config().vocab_size;
  PromptInput input;
  std::vector<float> logits_b;
  std::unique_ptr<engine::Model> b;
  json::Value hook_files = json::Value::array();
  if (reference) {  // a safetensors file with input_ids and logits (what the fixtures hold)
    auto file = SafetensorsFile::open(*reference);
    if (!args.get_all("image").empty()) fail(Status::kUnsupported, "--image with --reference (the file holds ids only)");
    Tensor ids = file->tensor("input_ids").contiguous().to(DType::I64);
    for (int64_t i = 0; i < ids.numel(); ++i) input.ids.push_back(static_cast<int32_t>(ids.data_as<int64_t>()[i]));
    Tensor logits = file->tensor("logits").contiguous().to(DType::F32);
    if (logits.numel() != static_cast<int64_t>(input.ids.size()) * V)
      fail(Status::kInvalidArgument, *reference, ": logits are ", logits.describe(), ", not ", input.ids.size(), " x ", V);
    logits_b.assign(logits.data_as<float>(), logits.data_as<float>() + logits.numel());
  } else {
    bridge::MegatronSourceOptions o;
    o.hf_model = hf;
    o.family = args.get("family").value_or("");
    b = engine::load_model(*bridge::open_megatron_source(model_arg(args, *megatron, hub::Need::kModel), o), device);
    if (b->config().vocab_size != V) fail(Status::kInvalidArgument, "the two models have different vocabularies");
    std::unique_ptr<Tokenizer> tok;
    if (args.get("prompt")) tok = Tokenizer::load(model_option(args, "tokenizer", hub::Need::kTokenizer).value_or(hf));
    input = prompt_input(args, a->config(), tok.get(), hf, "1,2,3,4");
    logits_b = run_forward(*b, input, args, "megatron", &hook_files);
  }
  const std::vector<int32_t>& prompt = input.ids;
  std::vector<float> logits_a = run_forward(*a, input, args, "hf", &hook_files);

  double max_abs = 0, sum_abs = 0, dot = 0, na = 0, nb = 0;
  int64_t argmax_equal = 0;
  const int64_t T = static_cast<int64_t>(prompt.size());
  for (int64_t t = 0; t < T; ++t) {
    argmax_equal += engine::argmax(&logits_a[t * V], V) == engine::argmax(&logits_b[t * V], V);
    for (int64_t v = 0; v < V; ++v) {
      const double x = logits_a[t * V + v], y = logits_b[t * V + v];
      max_abs = std::max(max_abs, std::fabs(x - y));
      sum_abs += std::fabs(x - y);
      dot += x * y, na += x * x, nb += y * y;
    }
  }
  json::Value out = json::Value::object();
  out.set("prompt_ids", token_ids_json(prompt));
  if (!input.chat_text.empty()) out.set("chat_text", input.chat_text);
  if (input.processor) out.set("images", images_json(input));
  out.set("logits_max_abs_diff", max_abs);
  out.set("logits_mean_abs_diff", sum_abs / double(T * V));
  out.set("cosine_similarity", dot / std::sqrt(na * nb));
  out.set("argmax_match", double(argmax_equal) / double(T));
  out.set("top5_a", top5(&logits_a[(T - 1) * V], V));
  out.set("top5_b", top5(&logits_b[(T - 1) * V], V));
  if (args.get("debug-hooks")) out.set("debug_hooks", std::move(hook_files));
  bool tokens_equal = true;
  if (b) {  // greedy tokens of both
    engine::GenerateOptions g;
    g.max_new_tokens = args.get_int("max-new-tokens", 16);
    if (!input.images.empty()) g.images = {input.images};
    auto ta = a->generate({prompt}, g, {})[0], tb = b->generate({prompt}, g, {})[0];
    int64_t match = 0;
    while (match < static_cast<int64_t>(std::min(ta.size(), tb.size())) && ta[match] == tb[match]) ++match;
    tokens_equal = ta == tb;
    out.set("tokens_a", token_ids_json(ta));
    out.set("tokens_b", token_ids_json(tb));
    out.set("tokens_matching", match);
  }
  if (args.has("json")) {
    std::printf("%s\n", json::dump(out).c_str());
  } else {
    std::printf("prompt ids: %s\n", json::dump(out.find("prompt_ids") ? *out.find("prompt_ids") : json::Value()).c_str());
    std::printf("logits: max |a-b| %.3g, mean |a-b| %.3g, cosine similarity %.9f, argmax equal at %lld of %lld positions\n",
                max_abs, sum_abs / double(T * V), dot / std::sqrt(na * nb), static_cast<long long>(argmax_equal),
                static_cast<long long>(T));
    for (const char* side : {"a", "b"}) {
      std::printf("top 5 %s:", side);
      for (const json::Value& e : out.find(std::string("top5_") + side)->items())
        std::printf(" %lld (%.4f)", static_cast<long long>(e.items()[0].as_int()), e.items()[1].as_number());
      std::printf("\n");
    }
    if (const json::Value* files = out.find("debug_hooks")) {
      for (const json::Value& f : files->items()) std::printf("module records: %s\n", f.as_string().c_str());
    }
    if (b)
      std::printf("greedy tokens: %lld of %zu equal\n", static_cast<long long>(out.find("tokens_matching")->as_int()),
                  out.find("tokens_a")->size());
  }
  // exit 1 when the models disagree on a token: what a conversion check wants to know
  return tokens_equal && argmax_equal == T ? 0 : 1;
}

}  // namespace mb::cli
