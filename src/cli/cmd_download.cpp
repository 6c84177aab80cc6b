// mbridge download ORG/NAME[@REVISION] [FILE...]: a Hugging Face Hub model into the Hugging Face cache, as
// `hf download` / huggingface_hub does it (same layout, shared with the Python tools); prints where it is.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "hub/hub_id.h"
#include "hub/hub_settings.h"
#include "hub/snapshot.h"
#include "io/json.h"

namespace mb::cli {

namespace {

const char* kUsage = R"(usage: mbridge download ORG/NAME[@REVISION] [FILE...] [options]
  Without FILE: what the other commands read (config.json, tokenizer and generation files, the safetensors
  weights: model.safetensors, or the index and its shards); prints the snapshot folder in the cache.
  With FILEs: exactly those files (a HEAD each, as huggingface_hub's hf_hub_download); prints their paths.
  --revision REV    branch, tag or commit sha (default: the @REVISION of the id, else main)
  --include WHAT    model (default), config (config.json and the tokenizer files) or tokenizer
  --cache-dir DIR   the Hugging Face cache to use (default: $HF_HUB_CACHE, else $HF_HOME/hub, else
                    ~/.cache/huggingface/hub)
  --no-progress     no progress bar
  --json            {"repo", "revision", "commit", "path", "files", "downloaded_files", "downloaded_bytes"}
Environment: HF_ENDPOINT, HF_TOKEN (or the token file $HF_HOME/token) for gated and private models,
HF_HUB_OFFLINE=1 to use the cache only (no connection is made). Interrupted downloads resume.
)";

}  // namespace

int run_download(int argc, char** argv) {
  Args args(argc, argv, 2, {"revision", "include", "cache-dir"}, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string& text = args.positional(0, "ORG/NAME");
  std::string why;
  auto id = hub::parse_hub_id(text, &why);
  if (!id) fail(Status::kInvalidArgument, "'", text, "' is not a Hugging Face Hub id: ", why);
  if (auto rev = args.get("revision")) {
    if (id->explicit_revision && *rev != id->revision)
      fail(Status::kInvalidArgument, "two revisions: '@", id->revision, "' and --revision ", *rev);
    if (!hub::valid_revision(*rev)) fail(Status::kInvalidArgument, "--revision '", *rev, "' is not a revision");
    id->revision = *rev;
    id->explicit_revision = true;
  }
  hub::HubSettings settings = hub::HubSettings::from_environment();
  if (auto dir = args.get("cache-dir")) settings.cache_dir = *dir;
  const std::string include = args.get("include").value_or("model");
  hub::Need need = hub::Need::kModel;
  if (include == "config") need = hub::Need::kConfig;
  else if (include == "tokenizer") need = hub::Need::kTokenizer;
  else if (include != "model") fail(Status::kInvalidArgument, "--include '", include, "': use model, config or tokenizer");

  std::vector<std::string> files(args.positional().begin() + 1, args.positional().end());
  if (!files.empty() && args.get("include")) fail(Status::kInvalidArgument, "give FILEs or --include, not both");
  ProgressFn progress = progress_bar(!args.has("no-progress"));
  hub::Snapshot snap = files.empty() ? hub::fetch_snapshot(*id, need, settings, progress)
                                     : hub::fetch_files(*id, files, settings, progress);
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("repo", id->repo);
    v.set("revision", id->revision);
    v.set("commit", snap.commit);
    v.set("path", snap.path);
    json::Value list = json::Value::array();
    for (const auto& f : snap.files) list.push(f);
    v.set("files", std::move(list));
    v.set("downloaded_files", int64_t{snap.downloaded_files});
    v.set("downloaded_bytes", snap.downloaded_bytes);
    std::printf("%s\n", json::dump(v).c_str());
  } else if (files.empty()) {
    std::printf("%s\n", snap.path.c_str());
  } else {
    for (const auto& f : snap.files) std::printf("%s\n", f.c_str());
  }
  return 0;
}

}  // namespace mb::cli
