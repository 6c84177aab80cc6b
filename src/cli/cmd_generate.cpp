// mbridge generate (--hf-model DIR | --megatron-path DIR) (--prompt TEXT | --prompt-ids 1,2,3) [--image PATH ...]
// The model's weights on a backend (the CPU reference, or the GPU with --device cuda), then generation,
// printed step by step as the seed script does (the top 5 at step 0, then every chosen token), or as one
// JSON object with --json. With images (LLaVA, Qwen2.5-VL), the prompt is built as the seed's VLM script has
// transformers' processor build it: the chat template around the images and the text, each image's placeholder
// repeated once per token the image fills.
#include <cstdio>
#include <string>
#include <vector>

#include "bridge/param_source.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/prompt_input.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/launch_info.h"
#include "engine/model.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "tokenizer/tokenizer.h"

namespace mb::cli {
namespace {

const char* kUsage = R"(usage: mbridge generate (--hf-model DIR | --megatron-path DIR) (--prompt TEXT | --prompt-ids 1,2,3) [options]
  --hf-model DIR        a Hugging Face folder (with --megatron-path: the config.json describing the checkpoint)
  --megatron-path DIR   a Megatron checkpoint, any format and layout
  --family NAME         a Megatron checkpoint without a stored config: the family to read it as
  --tokenizer DIR|FILE  tokenizer.json or its folder (default: the Hugging Face folder, or the files a Megatron
                        checkpoint imported by mbridge keeps, when they include one)
  --prompt TEXT         the prompt as text (encoded with the tokenizer, special tokens added)
  --prompt-ids IDS      the prompt as token ids
  --image PATH          a PNG or JPEG file for a vision-language model (LLaVA, Qwen2.5-VL); repeat for more.
                        Prepared with the model's preprocessor_config.json (as for the tokenizer). A --prompt without the
                        image token goes through the chat template as the user's turn, images first; a prompt
                        (text or ids) with one image token per image has each repeated as the image needs
  --chat                put a text-only --prompt through the chat template too (the user's turn, then the
                        assistant's start)
  --max-new-tokens N    16
  --temperature T       0 (greedy)
  --top-k K  --top-p P  --seed S
  --stop-ids IDS        stop after one of these (default: eos ids of generation_config.json or the tokenizer)
  --device D            cpu (the float32 reference, the default), cuda or cuda:N (bf16 weights on a GPU)
  --tp N  --pp M        run as N tensor-parallel ranks x M pipeline stages (threads of this process, each
                        holding only its part of the weights, sliced from any layout). --device cuda: rank r
                        on GPU r, NCCL between them; --device cuda:K: every rank on GPU K, the collectives
                        staged through host memory (slow; to check a split on one GPU)
  --expert-parallel     with --tp: each rank holds whole experts of a mixture (num_experts / N each)
                        Started by a launcher as N x M processes (torchrun --no-python, mpirun, srun: RANK and
                        WORLD_SIZE or theirs set), each process is one rank instead: the ranks meet at
                        MASTER_ADDR:MASTER_PORT (default 127.0.0.1:29500), each --device cuda rank takes GPU
                        LOCAL_RANK (NCCL between them), CPU ranks compute over TCP; rank 0 prints, the others
                        print nothing
  --json                {"prompt_ids", "generated_ids", "text"} on stdout (and "chat_text", the rendered chat
                        template, and "images", each image's file, grid and token count, when used)
  --no-progress         no download progress bar
)";

std::string token_text(const Tokenizer* tok, int32_t id) {
  if (!tok) return "";
  return json::quote(tok->decode({id}, false));
}

}  // namespace

int run_generate(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"hf-model", "megatron-path", "family", "tokenizer", "prompt", "prompt-ids", "max-new-tokens", "temperature",
             "top-k", "top-p", "seed", "stop-ids", "device", "image", "tp", "pp"},
            {"json", "no-progress", "help", "chat", "expert-parallel"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  // --hf-model is the whole model, or with --megatron-path only the config (and tokenizer) describing it
  const auto megatron = model_option(args, "megatron-path", hub::Need::kModel);
  const auto hf = model_option(args, "hf-model", megatron ? hub::Need::kConfig : hub::Need::kModel);
  if (!hf && !megatron) fail(Status::kInvalidArgument, "give --hf-model or --megatron-path");

  std::unique_ptr<bridge::ParamSource> source;
  if (megatron) {
    bridge::MegatronSourceOptions o;
    o.hf_model = hf.value_or("");
    o.family = args.get("family").value_or("");
    source = bridge::open_megatron_source(*megatron, o);
  } else {
    source = bridge::open_hf_source(*hf);
  }
  // the tokenizer, chat template and image processor files: --hf-model's, else those a Megatron checkpoint
  // keeps (mbridge_hf/, stored at import)
  std::string files = hf.value_or("");
  if (files.empty() && !source->assets().empty()) files = parent_path(source->assets().front());
  std::string tokenizer_path = model_option(args, "tokenizer", hub::Need::kTokenizer).value_or("");
  if (tokenizer_path.empty() && !files.empty() && is_regular_file(files + "/tokenizer.json")) tokenizer_path = files;
  std::unique_ptr<Tokenizer> tok;
  if (!tokenizer_path.empty()) tok = Tokenizer::load(tokenizer_path);

  engine::GenerateOptions g;
  g.max_new_tokens = args.get_int("max-new-tokens", 16);
  g.sampling.temperature = args.get("temperature") ? std::stod(*args.get("temperature")) : 0.0;
  g.sampling.top_k = args.get_int("top-k", 0);
  g.sampling.top_p = args.get("top-p") ? std::stod(*args.get("top-p")) : 1.0;
  g.sampling.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  if (auto stop = args.get("stop-ids")) g.stop_ids = parse_token_ids(*stop, "--stop-ids");
  else if (tok && !tok->eos_token_ids().empty()) g.stop_ids = tok->eos_token_ids();
  else g.stop_ids = generation_eos_ids(files);

  // the prompt (and its images) before the weights: mistakes in it are found at once
  const PromptInput input = prompt_input(args, source->config(), tok.get(), files);
  const std::vector<int32_t>& prompt = input.ids;
  if (!input.images.empty()) g.images = {input.images};

  const bool as_json = args.has("json");
  engine::ParallelOptions parallel;
  parallel.tp = static_cast<int>(args.get_int("tp", 1));
  parallel.pp = static_cast<int>(args.get_int("pp", 1));
  parallel.expert_parallel = args.has("expert-parallel");
  const std::optional<engine::LaunchInfo> launch = engine::launch_info();
  parallel.one_process_per_rank = launch && launch->world > 1;
  const bool quiet = launch && launch->world > 1 && launch->rank != 0;  // (one rank speaks for the run)
  std::unique_ptr<engine::Model> model = engine::load_model(*source, args.get("device").value_or("cpu"), parallel);
  source.reset();  // every parameter is in the model now
  const int64_t V = model->config().vocab_size;
  if (!as_json && !quiet) {
    std::printf("prompt ids: %s\n", json::dump(token_ids_json(prompt)).c_str());
  }
  auto generated = model->generate({prompt}, g, [&](size_t, int64_t step, int32_t token, const float* logits) {
    if (as_json || quiet) return true;
    if (step == 0 && logits) {
      std::printf("step 0 top 5:");
      for (auto [id, logit] : engine::top_logits(logits, V, 5)) std::printf(" %d (%.4f)%s%s", id, logit, tok ? " " : "", token_text(tok.get(), id).c_str());
      std::printf("\n");
    }
    std::printf("step %lld: %d %s\n", static_cast<long long>(step), token, token_text(tok.get(), token).c_str());
    std::fflush(stdout);
    return true;
  })[0];

  const std::string text = tok ? tok->decode(generated, true) : std::string();
  if (quiet) return 0;
  if (as_json) {
    json::Value out = json::Value::object();
    out.set("prompt_ids", token_ids_json(prompt));
    if (!input.chat_text.empty()) out.set("chat_text", input.chat_text);
    if (input.processor) out.set("images", images_json(input));
    out.set("generated_ids", token_ids_json(generated));
    if (tok) out.set("text", text);
    std::printf("%s\n", json::dump(out).c_str());
  } else if (tok) {
    std::printf("text: %s\n", json::quote(text).c_str());
  }
  return 0;
}

}  // namespace mb::cli
