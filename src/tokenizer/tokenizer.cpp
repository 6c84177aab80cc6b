#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/jinja_template.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"

namespace mb {
namespace {
const json::Value& member_or_null(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.find(key);
  return m ? *m : kNull;
}

// A token name in tokenizer_config.json: a string, or {"content": ...} (an AddedToken written out).
std::string token_name(const json::Value& config, const char* key) {
  const json::Value* v = config.find(key);
  if (!v) return {};
  if (v->is_string()) return v->as_string();
  if (const json::Value* c = v->is_object() ? v->find("content") : nullptr; c && c->is_string()) return c->as_string();
  return {};
}
}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::parse(std::string_view json_text, const std::string& source) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->source_ = source;
  const std::string& src = t->source_;
  json::Value doc = json::parse(json_text, src);
  if (!doc.is_object()) fail_format(src, "not a JSON object");
  const json::Value& model = member_or_null(doc, "model");
  if (!model.is_object()) fail_format(src, "no \"model\" object");
  const json::Value* type = model.find("type");
  if (type && type->as_string(src + ": model.type") != "BPE")
    fail(Status::kUnsupported, src, ": model type '", type->as_string(), "' is not supported (BPE only)");
  for (const char* key : {"truncation", "padding"})
    if (!member_or_null(doc, key).is_null())
      fail(Status::kUnsupported, src, ": \"", key, "\" is set; mbridge encodes without truncation or padding");
  t->normalizer_ = Normalizer::from_json(member_or_null(doc, "normalizer"), src);
  t->pre_tokenizer_ = PreTokenizer::from_json(member_or_null(doc, "pre_tokenizer"), src);
  t->model_ = std::make_unique<BpeModel>(model, src);
  t->post_processor_ = PostProcessor::from_json(member_or_null(doc, "post_processor"), src);
  t->decoder_ = Decoder::from_json(member_or_null(doc, "decoder"), src);
  t->added_ = std::make_unique<AddedVocabulary>(member_or_null(doc, "added_tokens"), *t->model_, t->normalizer_.get(), src);
  return t;
}

namespace {

// The template transformers renders for the folder: chat_template.jinja when there is one (it overrides
// tokenizer_config.json's), else tokenizer_config.json's, else a processor's chat_template.json (vision-language
// models keep theirs there).
std::string folder_chat_template(const std::string& folder, std::string from_config) {
  if (const std::string jinja = folder + "/chat_template.jinja"; is_regular_file(jinja)) return read_text_file(jinja);
  if (!from_config.empty()) return from_config;
  if (const std::string path = folder + "/chat_template.json"; is_regular_file(path)) {
    json::Value processor = json::parse_file(path);
    if (const json::Value* ct = processor.is_object() ? processor.find("chat_template") : nullptr; ct && ct->is_string())
      return ct->as_string();
  }
  return {};
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::string folder, file = path;
  if (is_directory(path)) {
    folder = path;
    file = path + "/tokenizer.json";
    if (!is_regular_file(file))
      fail(Status::kNotFound, path, ": no tokenizer.json in this folder (mbridge reads the fast-tokenizer file)");
  }
  std::unique_ptr<Tokenizer> t = parse(read_text_file(file), file);

  if (!folder.empty()) {
    std::string config_path = folder + "/tokenizer_config.json";
    if (is_regular_file(config_path)) {
      json::Value config = json::parse_file(config_path);
      if (const json::Value* ct = config.find("chat_template"); ct && ct->is_string()) t->chat_template_ = ct->as_string();
      t->bos_token_ = token_name(config, "bos_token");
      t->eos_token_ = token_name(config, "eos_token");
      for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"})
        if (std::string name = token_name(config, key); !name.empty()) t->special_token_names_.emplace_back(key, name);
    }
    t->chat_template_ = folder_chat_template(folder, std::move(t->chat_template_));
    t->eos_ids_ = generation_eos_ids(folder);
    if (t->eos_ids_.empty() && !t->eos_token_.empty() && t->token_to_id(t->eos_token_) >= 0)
      t->eos_ids_.push_back(t->token_to_id(t->eos_token_));
  }
  return t;
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::tokenize_plain(const std::string& text, bool at_start, std::vector<int32_t>* ids) const {
  std::vector<Piece> pieces{{text, at_start}};
  if (pre_tokenizer_) pre_tokenizer_->split(&pieces);
  for (const Piece& p : pieces) model_->tokenize(p.text, ids);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  unicode::check_utf8(text, "text to tokenize");
  std::vector<int32_t> ids;
  // Pass 1: tokens matched on the raw text. Pass 2: each stretch between them normalized on its own,
  // then the normalized tokens matched in it.
  for (const AddedVocabulary::Segment& raw : added_->split(text, false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    std::string piece(text.substr(raw.begin, raw.end - raw.begin));
    if (normalizer_) piece = normalizer_->normalize(std::move(piece));
    for (const AddedVocabulary::Segment& seg : added_->split(piece, true)) {
      if (seg.id >= 0) ids.push_back(seg.id);
      else tokenize_plain(piece.substr(seg.begin, seg.end - seg.begin), raw.begin == 0 && seg.begin == 0, &ids);
    }
  }
  if (post_processor_) ids = post_processor_->process(std::move(ids), add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* t = added_->id_to_token(id);
    if (!t) t = model_->id_to_token(id);
    if (!t) continue;
    if (skip_special_tokens && added_->is_special(*t)) continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (!decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const std::string& t : decoder_->decode_chain(std::move(tokens))) out += t;
  return out;
}

std::string Tokenizer::apply_chat_template(const json::Value& messages, bool add_generation_prompt,
                                           const json::Value& extra) const {
  if (chat_template_.empty()) fail(Status::kNotFound, source_, ": the tokenizer folder has no chat template");
  if (!messages.is_array()) fail(Status::kInvalidArgument, "chat messages must be a JSON array");
  if (!extra.is_null() && !extra.is_object()) fail(Status::kInvalidArgument, "chat template variables must be a JSON object");
  std::call_once(template_once_, [&] { template_ = std::make_shared<jinja::Template>(chat_template_); });
  // What transformers passes: the special tokens by name, messages, tools and documents (None unless
  // given), add_generation_prompt, then the caller's variables.
  jinja::Value context = jinja::Value::new_dict();
  for (const auto& [key, name] : special_token_names_) context.set(key, jinja::Value::string(name));
  context.set("messages", jinja::Value::from_json(messages));
  context.set("tools", jinja::Value::none());
  context.set("documents", jinja::Value::none());
  context.set("add_generation_prompt", jinja::Value::boolean(add_generation_prompt));
  if (extra.is_object())
    for (const auto& [k, v] : extra.members()) context.set(k, jinja::Value::from_json(v));
  return template_->render(context);
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  int32_t id = added_->token_to_id(token);
  return id >= 0 ? id : model_->token_to_id(token);
}

const std::string* Tokenizer::id_to_token(int32_t id) const {
  const std::string* t = added_->id_to_token(id);
  return t ? t : model_->id_to_token(id);
}

int32_t Tokenizer::vocab_size() const {
  int32_t n = model_->vocab_size();
  for (const AddedToken& a : added_->tokens()) n = std::max(n, a.id + 1);
  return n;
}

bool Tokenizer::is_special(int32_t id) const {
  const std::string* t = added_->id_to_token(id);
  return t && added_->is_special(*t);
}

}  // namespace mb
