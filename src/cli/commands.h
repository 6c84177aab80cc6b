// The mbridge subcommands; each returns the process exit code (0 ok, 1 differences found, 2 error).
#pragma once

namespace mb::cli {

int run_tensors(int argc, char** argv);
int run_info(int argc, char** argv);
int run_transcode(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_verify(int argc, char** argv);
int run_import(int argc, char** argv);
int run_export(int argc, char** argv);
int run_reshard(int argc, char** argv);
int run_roundtrip(int argc, char** argv);
int run_list(int argc, char** argv);
int run_config(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_detokenize(int argc, char** argv);
int run_chat_template(int argc, char** argv);
int run_generate(int argc, char** argv);
int run_download(int argc, char** argv);
int run_pack(int argc, char** argv);
int run_unpack(int argc, char** argv);
// compare --hf-model ...: two models (or one and saved logits) run on the same prompt (cmd_compare_logits.cpp).
class Args;
int compare_logits(const Args& args);

}  // namespace mb::cli
