// Helpers shared by the unit tests: fixture paths, scratch folders, and describe(), the tagged JSON form
// of an unpickled value that tests/fixtures/generate_foundation_fixtures.py also produces (from the
// objects torch.load returned), so the two can be compared as JSON.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bridge/param_source.h"
#include "core/error.h"
#include "core/tensor.h"
#include "io/json.h"
#include "io/pickle_value.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"

namespace mbtest {

std::string fixture(const std::string& relative);  // tests/fixtures/<relative>
std::string scratch_dir(const std::string& name);  // a fresh, empty folder for one test
std::string read_file(const std::string& path);
// The folder of a real tokenizer fetched by tests/support/fetch_tokenizers.sh (llama3, qwen3, ...):
// $MB_TOKENIZER_CACHE/<name>/package/models, the cache being .cache/tokenizers of the source tree by default.
std::string tokenizer_models(const std::string& name);
// The names of the files in `dir` that end with `suffix`, the suffix cut off, sorted.
std::vector<std::string> names_with_suffix(const std::string& dir, const std::string& suffix);
void write_file(const std::string& path, const std::string& bytes);
// The Hugging Face folder `hf_dir` as a source, and the same model imported at TP2 x PP2 and read back without
// the folder (its stored config and tensors only), named "Hugging Face" and "Megatron TP2 x PP2". The import is
// made once per process, into scratch folder `name`.
std::vector<std::pair<std::string, std::unique_ptr<mb::bridge::ParamSource>>> hf_and_megatron_sources(
    const std::string& hf_dir, const std::string& name);
// The status of the mb::Error that f throws; kOk when it returns.
mb::Status status_of(const std::function<void()>& f);
// A random port in 20000..49999 for a test's rendezvous (MASTER_PORT), so that runs side by side rarely meet.
int free_port();
// `rank(r)` for r in [0, world), each on a thread of its own (as a launcher's processes would run), all joined;
// what each ended with: kOk, or the status and message of the mb::Error it threw.
struct RankOutcome {
  mb::Status status = mb::Status::kOk;
  std::string message;
};
std::vector<RankOutcome> run_ranks(int world, const std::function<void(int rank)>& rank);

// Mirrors describe() in the fixture generator; tensors are named by their path like it does.
mb::json::Value describe(const mb::pickle::Node* node, const std::string& prefix = "");

// Decimal text of a little-endian two's-complement integer (pickle LONG bytes).
std::string bigint_decimal(const std::string& le_bytes);

::testing::AssertionResult BitwiseEqual(const mb::Tensor& a, const mb::Tensor& b);

// Writes a copy of a torch_dist checkpoint under `root` with another chunking: each tensor split in
// `parts` along its last dimension over `files` files; bytes items and the common state copied as
// they are (the common state as common.pt when `common_pt`). Returns the iteration folder.
std::string rewrite_torch_dist(const mb::TorchDistCheckpoint& src, const std::string& root, int files, int parts,
                               bool common_pt);

}  // namespace mbtest
