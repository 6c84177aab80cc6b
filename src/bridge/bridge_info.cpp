#include "bridge/bridge_info.h"

#include "bridge/registry.h"

namespace mb::bridge {

json::Value bridge_info(const ParamSource& s) {
  const ModelConfig& c = s.config();
  json::Value v = json::Value::object();
  v.set("path", s.path());
  v.set("source", s.kind());
  v.set("family", c.family);
  v.set("architecture", c.hf_architecture);
  json::Value tc = megatron_transformer_config(c);
  tc.set("padded_vocab_size", s.vocab_rows());
  v.set("transformer_config", std::move(tc));
  v.set("hf_config", c.hf_config.is_null() ? s.family().hf_config_for(c) : c.hf_config);
  ParallelLayout L = s.layout();
  json::Value layout = json::Value::object();
  layout.set("tp", L.tp);
  layout.set("pp", L.pp);
  layout.set("vpp", L.vpp);
  layout.set("ep", L.ep);
  layout.set("spec", spec_name(L.spec));
  v.set("layout", std::move(layout));
  int64_t params = 0;
  for (const ParamInfo& p : s.params()) {
    int64_t n = 0;
    checked_numel(p.shape, &n);
    params += n;
  }
  v.set("megatron_parameters", static_cast<int64_t>(s.params().size()));
  v.set("parameter_count", params);
  return v;
}

json::Value supported_families_json() {
  json::Value list = json::Value::array();
  for (const Family* f : all_families()) {
    json::Value e = json::Value::object();
    e.set("family", f->name);
    json::Value archs = json::Value::array();
    for (const auto& a : f->architectures) archs.push(a);
    e.set("architectures", std::move(archs));
    e.set("description", f->description);
    list.push(std::move(e));
  }
  json::Value v = json::Value::object();
  v.set("families", std::move(list));
  return v;
}

json::Value verify_rows_json(const std::vector<VerifyRow>& rows) {
  json::Value list = json::Value::array();
  for (const VerifyRow& r : rows) {
    json::Value e = json::Value::object();
    e.set("param", r.param);
    e.set("a", r.a);
    e.set("b", r.b);
    e.set("equal", r.equal);
    if (!r.note.empty()) e.set("note", r.note);
    list.push(std::move(e));
  }
  return list;
}

}  // namespace mb::bridge
