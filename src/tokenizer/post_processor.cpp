#include "tokenizer/post_processor.h"

#include "core/error.h"
#include "tokenizer/component_json.h"

namespace mb {
namespace {

class SequenceProcessor : public PostProcessor {
 public:
  std::vector<std::unique_ptr<PostProcessor>> parts;
  std::vector<int32_t> process(std::vector<int32_t> ids, bool add) const override {
    for (const auto& p : parts) ids = p->process(std::move(ids), add);
    return ids;
  }
};

class IdentityProcessor : public PostProcessor {
 public:
  std::vector<int32_t> process(std::vector<int32_t> ids, bool) const override { return ids; }
};

// The "single" template: special tokens (each expanding to its list of ids) around sequence A.
class TemplateProcessor : public PostProcessor {
 public:
  struct Item {
    bool sequence;
    std::vector<int32_t> ids;  // the special token's ids
  };
  std::vector<Item> single;
  std::vector<int32_t> process(std::vector<int32_t> ids, bool add) const override {
    if (!add) return ids;
    std::vector<int32_t> out;
    for (const Item& item : single) {
      if (item.sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    return out;
  }
};

class ClsSepProcessor : public PostProcessor {
 public:
  int32_t cls = 0, sep = 0;
  std::vector<int32_t> process(std::vector<int32_t> ids, bool add) const override {
    if (!add) return ids;
    ids.insert(ids.begin(), cls);
    ids.push_back(sep);
    return ids;
  }
};

std::unique_ptr<PostProcessor> template_from_json(const json::Value& v, const std::string& source) {
  const json::Value* single = v.find("single");
  const json::Value* specials = v.find("special_tokens");
  if (!single || !single->is_array()) fail_format(source, "TemplateProcessing without a \"single\" template");
  auto p = std::make_unique<TemplateProcessor>();
  for (const json::Value& piece : single->items()) {
    if (const json::Value* seq = piece.find("Sequence")) {
      const json::Value* id = seq->find("id");
      if (!id || id->as_string(source + ": template sequence id") != "A")
        fail_format(source, "the single template names a sequence other than A");
      p->single.push_back({true, {}});
    } else if (const json::Value* special = piece.find("SpecialToken")) {
      const json::Value* name = special->find("id");
      if (!name) fail_format(source, "template SpecialToken without an id");
      const json::Value* entry = specials ? specials->find(name->as_string(source + ": SpecialToken.id")) : nullptr;
      const json::Value* ids = entry ? entry->find("ids") : nullptr;
      if (!ids || !ids->is_array())
        fail_format(source, "template special token '", name->as_string(), "' has no entry in special_tokens");
      TemplateProcessor::Item item{false, {}};
      for (const json::Value& id : ids->items()) item.ids.push_back(static_cast<int32_t>(id.as_int(source + ": special token id")));
      p->single.push_back(std::move(item));
    } else {
      fail_format(source, "template item is neither Sequence nor SpecialToken");
    }
  }
  return p;
}

}  // namespace

std::unique_ptr<PostProcessor> PostProcessor::from_json(const json::Value& v, const std::string& source) {
  if (v.is_null()) return nullptr;
  const std::string& t = tokenizer_json::type_of(v, source, "post_processor");
  if (t == "Sequence") {
    auto seq = std::make_unique<SequenceProcessor>();
    seq->parts = tokenizer_json::sequence<PostProcessor>(v, "processors", source);
    return seq;
  }
  if (t == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (t == "TemplateProcessing") return template_from_json(v, source);
  if (t == "RobertaProcessing" || t == "BertProcessing") {
    auto p = std::make_unique<ClsSepProcessor>();
    const json::Value* cls = v.find("cls");
    const json::Value* sep = v.find("sep");
    if (!cls || !sep || !cls->is_array() || !sep->is_array() || cls->size() != 2 || sep->size() != 2)
      fail_format(source, t, " needs cls and sep as [token, id]");
    p->cls = static_cast<int32_t>(cls->items()[1].as_int(source + ": cls id"));
    p->sep = static_cast<int32_t>(sep->items()[1].as_int(source + ": sep id"));
    return p;
  }
  fail(Status::kUnsupported, source, ": post_processor type '", t,
       "' is not supported (supported: Sequence, TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing)");
}

}  // namespace mb
