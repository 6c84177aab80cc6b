// A Hugging Face tokenizer.json, loaded and run without Python or Rust: the pipeline of the `tokenizers`
// library (added tokens, normalizer, pre-tokenizer, BPE model, post-processor; decoder on the way back),
// giving the same ids. A folder may be given instead of the file: tokenizer.json is read from it, with
// tokenizer_config.json (chat template, bos/eos names) and generation_config.json (eos ids) when present.
// A loaded Tokenizer is immutable: its const methods may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "io/json.h"

namespace mb {

namespace jinja {
class Template;
}
class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;

class Tokenizer {
 public:
  // `path`: a tokenizer.json file or a folder holding one. Errors name the file.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  // The text of a tokenizer.json; `source` names it in errors.
  static std::unique_ptr<Tokenizer> parse(std::string_view json_text, const std::string& source);
  ~Tokenizer();

  // `text` must be valid UTF-8 (kInvalidArgument naming the byte offset otherwise).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids with no token are left out, as tokenizers does.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t token_to_id(std::string_view token) const;  // -1 when unknown
  const std::string* id_to_token(int32_t id) const;   // nullptr when unknown
  int32_t vocab_size() const;                         // highest id + 1, added tokens included
  bool is_special(int32_t id) const;

  // The chat template of tokenizer_config.json rendered for `messages` (a JSON array of {"role", "content",
  // ...} objects) as transformers' apply_chat_template(messages, tokenize=False) renders it; `extra` (a JSON
  // object or null) adds template variables (tools, documents, enable_thinking, ...). kNotFound when the
  // folder had no chat template.
  std::string apply_chat_template(const json::Value& messages, bool add_generation_prompt,
                                  const json::Value& extra = json::Value()) const;

  // From tokenizer_config.json / generation_config.json when the folder has them ("" / empty otherwise).
  const std::string& chat_template() const { return chat_template_; }
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  const std::vector<int32_t>& eos_token_ids() const { return eos_ids_; }
  const std::string& source() const { return source_; }

 private:
  Tokenizer() = default;
  void tokenize_plain(const std::string& text, bool at_start, std::vector<int32_t>* ids) const;

  std::string source_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<AddedVocabulary> added_;
  std::string chat_template_, bos_token_, eos_token_;
  std::vector<std::pair<std::string, std::string>> special_token_names_;  // bos_token, eos_token, ... by name
  mutable std::once_flag template_once_;              // the chat template is parsed on first use
  mutable std::shared_ptr<jinja::Template> template_;
  std::vector<int32_t> eos_ids_;
};

}  // namespace mb
