// mbridge tokenize --tokenizer DIR|FILE (--text TEXT | --input FILE) [--no-special] [--json]
// mbridge detokenize --tokenizer DIR|FILE (--ids 1,2,3 | --input FILE) [--skip-special] [--json]
// mbridge chat-template --tokenizer DIR --messages FILE [--add-generation-prompt] [--variables JSON] [--json]
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "core/error.h"
#include "io/json.h"
#include "tokenizer/tokenizer.h"

namespace mb::cli {
namespace {

const char* kTokenizeUsage = R"(usage: mbridge tokenize --tokenizer DIR|FILE (--text TEXT | --input FILE) [--no-special] [--json]
  --tokenizer    tokenizer.json, or the model folder holding it
  --text         the text to tokenize
  --input        a file with one JSON string per line; one line of ids is printed per line
  --no-special   do not add what the post-processor adds (BOS for Llama)
  --json         ids as a JSON array (one array per input line)
  --no-progress  no download progress bar
The tokenizer may be a Hugging Face Hub id, org/name[@revision] (its tokenizer files are fetched into the cache).
)";

const char* kDetokenizeUsage = R"(usage: mbridge detokenize --tokenizer DIR|FILE (--ids 1,2,3 | --input FILE) [--skip-special] [--json]
  --tokenizer     tokenizer.json, or the model folder holding it
  --ids           comma- or space-separated token ids
  --input         a file with one JSON array of ids per line; one text is printed per line
  --skip-special  leave special tokens out of the text
  --json          each text as a JSON string (otherwise raw, one per line)
  --no-progress   no download progress bar
The tokenizer may be a Hugging Face Hub id, org/name[@revision] (its tokenizer files are fetched into the cache).
)";

const char* kChatUsage = R"(usage: mbridge chat-template --tokenizer DIR --messages FILE [--add-generation-prompt] [--variables JSON] [--json]
  --tokenizer              the model folder (its tokenizer_config.json holds the chat template)
  --messages               a JSON file: an array of {"role": ..., "content": ...} objects
  --add-generation-prompt  end with the start of the assistant's turn
  --variables              a JSON object of extra template variables (e.g. {"enable_thinking": false})
  --json                   {"text": the rendered prompt, "ids": its tokens (no special tokens added)}
  --no-progress            no download progress bar
The tokenizer may be a Hugging Face Hub id, org/name[@revision] (its tokenizer files are fetched into the cache).
)";

// Ids as a JSON array, or space-separated.
std::string ids_text(const std::vector<int32_t>& ids, bool as_json) {
  if (as_json) return json::dump(token_ids_json(ids));
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

std::vector<std::string> input_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(Status::kNotFound, path, ": cannot open");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  Args args(argc, argv, 2, {"tokenizer", "text", "input"}, {"no-special", "json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs(kTokenizeUsage, stdout);
    return 0;
  }
  auto path = args.get("tokenizer");
  if (!path) fail(Status::kInvalidArgument, "--tokenizer is required");
  if (args.get("text").has_value() == args.get("input").has_value())
    fail(Status::kInvalidArgument, "give exactly one of --text and --input");
  auto tok = Tokenizer::load(model_arg(args, *path, hub::Need::kTokenizer));
  const bool add = !args.has("no-special"), as_json = args.has("json");
  if (auto text = args.get("text")) {
    std::printf("%s\n", ids_text(tok->encode(*text, add), as_json).c_str());
    return 0;
  }
  const std::string input = *args.get("input");
  std::vector<std::string> lines = input_lines(input);
  for (size_t i = 0; i < lines.size(); ++i) {
    json::Value v = json::parse(lines[i], input + " line " + std::to_string(i + 1));
    if (!v.is_string()) fail(Status::kInvalidArgument, input, " line ", i + 1, ": not a JSON string");
    std::printf("%s\n", ids_text(tok->encode(v.as_string(), add), as_json).c_str());
  }
  return 0;
}

int run_chat_template(int argc, char** argv) {
  Args args(argc, argv, 2, {"tokenizer", "messages", "variables"}, {"add-generation-prompt", "json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs(kChatUsage, stdout);
    return 0;
  }
  auto path = args.get("tokenizer");
  auto messages_path = args.get("messages");
  if (!path || !messages_path) fail(Status::kInvalidArgument, "--tokenizer and --messages are required");
  auto tok = Tokenizer::load(model_arg(args, *path, hub::Need::kTokenizer));
  json::Value messages = json::parse_file(*messages_path);
  json::Value variables = args.get("variables") ? json::parse(*args.get("variables"), "--variables") : json::Value();
  std::string text = tok->apply_chat_template(messages, args.has("add-generation-prompt"), variables);
  if (!args.has("json")) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  json::Value out = json::Value::object();
  out.set("text", text);
  out.set("ids", token_ids_json(tok->encode(text, false)));  // as apply_chat_template(tokenize=True)
  std::printf("%s\n", json::dump(out).c_str());
  return 0;
}

int run_detokenize(int argc, char** argv) {
  Args args(argc, argv, 2, {"tokenizer", "ids", "input"}, {"skip-special", "json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs(kDetokenizeUsage, stdout);
    return 0;
  }
  auto path = args.get("tokenizer");
  if (!path) fail(Status::kInvalidArgument, "--tokenizer is required");
  if (args.get("ids").has_value() == args.get("input").has_value())
    fail(Status::kInvalidArgument, "give exactly one of --ids and --input");
  auto tok = Tokenizer::load(model_arg(args, *path, hub::Need::kTokenizer));
  const bool skip = args.has("skip-special"), as_json = args.has("json");
  auto print = [&](const std::vector<int32_t>& ids) {
    std::string text = tok->decode(ids, skip);
    if (as_json) text = json::quote(text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  };
  if (auto ids = args.get("ids")) {
    print(parse_token_ids(*ids, "--ids"));
    return 0;
  }
  const std::string input = *args.get("input");
  std::vector<std::string> lines = input_lines(input);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = input + " line " + std::to_string(i + 1);
    json::Value v = json::parse(lines[i], where);
    if (!v.is_array()) fail(Status::kInvalidArgument, where, ": not a JSON array of ids");
    std::vector<int32_t> ids;
    for (const json::Value& id : v.items()) {
      int64_t x = id.as_int(where);
      if (x < 0 || x > INT32_MAX) fail(Status::kInvalidArgument, where, ": ", x, " is not a token id");
      ids.push_back(static_cast<int32_t>(x));
    }
    print(ids);
  }
  return 0;
}

}  // namespace mb::cli
