#include "bridge/checkpoint_meta.h"

#include "core/error.h"

namespace mb::bridge {

std::string meta_to_json(const CheckpointMeta& m) {
  json::Value v = json::Value::object();
  v.set("version", m.version);
  v.set("family", m.family);
  v.set("hf_config_text", m.hf_config_text);
  json::Value assets = json::Value::array();
  for (const std::string& a : m.assets) assets.push(a);
  v.set("assets", std::move(assets));
  json::Value layout = json::Value::object();
  layout.set("tp", m.layout.tp);
  layout.set("pp", m.layout.pp);
  layout.set("vpp", m.layout.vpp);
  layout.set("ep", m.layout.ep);
  layout.set("spec", spec_name(m.layout.spec));
  layout.set("vocab_divisible_by", m.layout.vocab_divisible_by);
  v.set("layout", std::move(layout));
  v.set("vocab_size", m.vocab_size);
  return json::dump(v);
}

CheckpointMeta meta_from_json(const std::string& text, const std::string& source) {
  json::Value v = json::parse(text, source + " (mbridge metadata)");
  CheckpointMeta m;
  const json::Value* version = v.find("version");
  if (!version || !version->is_int() || version->as_int() != 1)
    fail_format(source, "mbridge metadata of an unknown version");
  m.family = v.find("family") ? v.find("family")->as_string("family") : "";
  if (const json::Value* t = v.find("hf_config_text"); t && t->is_string()) {
    m.hf_config_text = t->as_string();
    m.hf_config = json::parse(m.hf_config_text, source + " (stored config.json)");
  }
  if (const json::Value* a = v.find("assets"); a && a->is_array())
    for (const json::Value& x : a->items()) m.assets.push_back(x.as_string("asset name"));
  if (const json::Value* l = v.find("layout"); l && l->is_object()) {
    auto get = [&](const char* k, int64_t d) { const json::Value* x = l->find(k); return x ? x->as_int(k) : d; };
    m.layout.tp = static_cast<int>(get("tp", 1));
    m.layout.pp = static_cast<int>(get("pp", 1));
    m.layout.vpp = static_cast<int>(get("vpp", 1));
    m.layout.ep = static_cast<int>(get("ep", 1));
    m.layout.vocab_divisible_by = get("vocab_divisible_by", 1);
    const json::Value* spec = l->find("spec");
    m.layout.spec = spec && spec->is_string() && spec->as_string() == "local" ? MegatronSpec::kLocal
                                                                              : MegatronSpec::kTransformerEngine;
  }
  if (const json::Value* vs = v.find("vocab_size")) m.vocab_size = vs->as_int("vocab_size");
  return m;
}

}  // namespace mb::bridge
