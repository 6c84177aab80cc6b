// mbridge compare A B [--all] [--json]: bit-for-bit, tensor by tensor.
#include <algorithm>
#include <cstdio>

#include "bridge/bridge_info.h"
#include "bridge/convert.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

namespace {
int compare_models(const Args& args) {
  auto a = bridge::open_param_source(model_arg(args, args.positional(0, "A"), hub::Need::kModel));
  auto b = bridge::open_param_source(model_arg(args, args.positional(1, "B"), hub::Need::kModel));
  auto rows = bridge::verify_models(*a, *b);
  size_t different = std::count_if(rows.begin(), rows.end(), [](const bridge::VerifyRow& r) { return !r.equal; });
  if (args.has("json")) {
    json::Value out = json::Value::object();
    out.set("params", bridge::verify_rows_json(rows));
    out.set("different", static_cast<int64_t>(different));
    std::printf("%s\n", json::dump(out).c_str());
  } else {
    for (const auto& r : rows)
      if (!r.equal || args.has("all"))
        std::printf("%-32s %-20s %-20s %s %s\n", r.param.c_str(), r.a.c_str(), r.b.c_str(), r.equal ? "equal" : "DIFFERENT",
                    r.note.c_str());
    std::printf("%zu parameters compared, %zu different\n", rows.size(), different);
  }
  return different ? 1 : 0;
}
}  // namespace

int run_compare(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"format-a", "format-b", "hf-model", "megatron-path", "reference", "family", "prompt", "prompt-ids", "tokenizer",
             "max-new-tokens", "device", "debug-hooks", "image"},
            {"all", "json", "models", "no-progress", "help", "chat"});
  if (args.has("help")) {
    std::fputs("usage: mbridge compare A B [--format-a F] [--format-b F] [--all] [--json]\n"
               "       mbridge compare A B --models   compare two models (Hugging Face folders or Megatron\n"
               "                                      checkpoints, in any layout) parameter by parameter\n"
               "       mbridge compare --hf-model DIR (--megatron-path DIR | --reference FILE) [--prompt TEXT |\n"
               "                       --prompt-ids IDS] [--image PATH ...] [--chat] [--max-new-tokens N]\n"
               "                       [--device cpu|cuda[:N]] [--json]\n"
               "                                      run both (CPU reference or GPU): logits max/mean abs diff, cosine\n"
               "                                      similarity, argmax and greedy token match, top 5 of each side;\n"
               "                                      --reference: a safetensors file with input_ids and logits;\n"
               "                                      --image, --chat: the prompt with image files (LLaVA,\n"
               "                                      Qwen2.5-VL) as mbridge generate builds it;\n"
               "                                      --debug-hooks DIR: every module's shapes and output statistics\n"
               "                                      (min, max, mean, abs_sum) as JSON lines in DIR/hf.jsonl and\n"
               "                                      DIR/megatron.jsonl (either backend; on the GPU, from the bf16\n"
               "                                      buffers it computes)\n"
               "       --no-progress                  no download progress bar\n", stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  if (args.get("hf-model")) return compare_logits(args);
  if (args.has("models")) return compare_models(args);
  const Format fa = format_option(args, "format-a"), fb = format_option(args, "format-b");
  auto a = open_tensor_files(checkpoint_arg(args, args.positional(0, "A"), fa), fa);
  auto b = open_tensor_files(checkpoint_arg(args, args.positional(1, "B"), fb), fb);
  auto rows = compare_tensor_files(*a, *b);
  size_t different = std::count_if(rows.begin(), rows.end(), [](const CompareRow& r) { return !r.equal; });
  if (args.has("json")) {
    json::Value out = json::Value::object();
    json::Value list = json::Value::array();
    for (const CompareRow& r : rows) {
      json::Value e = json::Value::object();
      e.set("name", r.name);
      e.set("a", r.a.empty() ? json::Value() : json::Value(r.a));
      e.set("b", r.b.empty() ? json::Value() : json::Value(r.b));
      e.set("equal", r.equal);
      list.push(std::move(e));
    }
    out.set("tensors", std::move(list));
    out.set("compared", static_cast<int64_t>(rows.size()));
    out.set("different", static_cast<int64_t>(different));
    std::printf("%s\n", json::dump(out).c_str());
  } else {
    size_t width = 4;
    for (const CompareRow& r : rows) width = std::max(width, r.name.size());
    for (const CompareRow& r : rows) {
      if (r.equal && !args.has("all")) continue;
      std::printf("%-*s  %-20s %-20s %s\n", static_cast<int>(width), r.name.c_str(), r.a.empty() ? "(absent)" : r.a.c_str(),
                  r.b.empty() ? "(absent)" : r.b.c_str(), r.equal ? "equal" : "DIFFERENT");
    }
    std::printf("%zu tensors compared, %zu different\n", rows.size(), different);
  }
  return different ? 1 : 0;
}

}  // namespace mb::cli
