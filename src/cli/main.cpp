// mbridge: the command-line face of the library. `mbridge help` lists the commands.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "mbridge.h"

namespace {

const char* kUsage = R"(mbridge — LLM checkpoints between Hugging Face and Megatron, without Python

usage: mbridge <command> [arguments]

  import --hf-model DIR --megatron-path DIR [--tp N --pp N --vpp N --ep N --format torch_dist|legacy]
                      convert a Hugging Face model into a Megatron checkpoint
  export --megatron-path DIR --hf-path DIR [--hf-model DIR] [--family NAME]
                      convert a Megatron checkpoint into a Hugging Face folder
  roundtrip --hf-model DIR [layout options]
                      HF -> Megatron -> HF, every tensor compared bit for bit (exit 1 on a mismatch)
  reshard --megatron-path DIR --output DIR [layout options]
                      rewrite a Megatron checkpoint in another parallel layout or format
  list                the model families mbridge converts
  config PATH         family, Megatron TransformerConfig and Hugging Face config of a model (JSON)
  tensors PATH        list the tensors of a checkpoint (name, dtype, shape)
  info PATH           what a checkpoint is: format, files, iteration, parallel layout, args (JSON)
  transcode SRC DST --to FORMAT
                      write every tensor of SRC to DST in another file format, names unchanged (no layout change)
  compare A B         compare two checkpoints tensor by tensor, bit for bit (exit 1 on a difference)
  verify PATH         read every byte of every tensor and check zip CRCs (exit 1 on damage); for a bundle,
                      decode every chunk and check its checksums
  pack (--hf-model DIR | --megatron-path DIR | --dir DIR) --output FILE.mbz [--level N]
                      every file of a model in one losslessly compressed bundle (read in place by every
                      command that opens a model)
  unpack FILE.mbz --output DIR
                      the files of a bundle back, bit for bit (--list: what it holds)
  generate (--hf-model DIR | --megatron-path DIR) (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N]
                      generate text with the model (CPU float32 reference backend), step by step
  tokenize --tokenizer DIR|FILE (--text TEXT | --input FILE)
                      token ids of a text, as Hugging Face tokenizers gives them
  detokenize --tokenizer DIR|FILE (--ids 1,2,3 | --input FILE)
                      the text of token ids
  chat-template --tokenizer DIR --messages FILE [--add-generation-prompt]
                      a conversation rendered with the model's chat template (--json: with its ids)
  download ORG/NAME[@REVISION] [FILE...]
                      fetch a Hugging Face Hub model into the Hugging Face cache (shared with Python tools)
  version             print the version

PATH is a .safetensors file, a Hugging Face folder, a torch.save .pt file, or a Megatron checkpoint
folder (torch_dist or legacy mp_rank_*; the root with latest_checkpointed_iteration.txt or an iter_ folder).
Wherever a Hugging Face model or tokenizer is taken, a Hub id org/name[@revision] works too (when no such
local path exists): it is found in, or downloaded to, the Hugging Face cache (HF_HOME, HF_HUB_CACHE, HF_TOKEN,
HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache only).
PATH and every model (--hf-model, --megatron-path) may also be a bundle made by `mbridge pack`, read in place.
FORMAT is safetensors, torch, torch_dist or megatron_legacy. Run `mbridge <command> --help` for options.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  mb::set_log_sink([](mb::LogLevel level, const std::string& m) {
    std::fprintf(stderr, "%s%s\n", level >= mb::LogLevel::kWarning ? "warning: " : "", m.c_str());
  }, mb::LogLevel::kInfo);
  std::string cmd = argv[1];
  try {
    if (cmd == "version" || cmd == "--version") {
      std::printf("mbridge %s\n", MB_VERSION_STRING);
      return 0;
    }
    if (cmd == "import") return mb::cli::run_import(argc, argv);
    if (cmd == "export") return mb::cli::run_export(argc, argv);
    if (cmd == "roundtrip") return mb::cli::run_roundtrip(argc, argv);
    if (cmd == "reshard") return mb::cli::run_reshard(argc, argv);
    if (cmd == "list") return mb::cli::run_list(argc, argv);
    if (cmd == "config") return mb::cli::run_config(argc, argv);
    if (cmd == "tensors") return mb::cli::run_tensors(argc, argv);
    if (cmd == "info") return mb::cli::run_info(argc, argv);
    if (cmd == "transcode") return mb::cli::run_transcode(argc, argv);
    if (cmd == "compare") return mb::cli::run_compare(argc, argv);
    if (cmd == "verify") return mb::cli::run_verify(argc, argv);
    if (cmd == "tokenize") return mb::cli::run_tokenize(argc, argv);
    if (cmd == "detokenize") return mb::cli::run_detokenize(argc, argv);
    if (cmd == "chat-template") return mb::cli::run_chat_template(argc, argv);
    if (cmd == "generate") return mb::cli::run_generate(argc, argv);
    if (cmd == "download") return mb::cli::run_download(argc, argv);
    if (cmd == "pack") return mb::cli::run_pack(argc, argv);
    if (cmd == "unpack") return mb::cli::run_unpack(argc, argv);
    std::fprintf(stderr, "mbridge: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const mb::Error& e) {
    std::fprintf(stderr, "mbridge %s: error: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mbridge %s: internal error: %s\n", cmd.c_str(), e.what());
    return 2;
  }
}
