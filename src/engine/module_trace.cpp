#include "engine/module_trace.h"

#include <algorithm>
#include <cmath>

namespace mb::engine {
namespace {

json::Value shape_json(const std::vector<int64_t>& shape) {
  json::Value v = json::Value::array();
  for (int64_t d : shape) v.push(d);
  return v;
}

}  // namespace

void set_output_stats(ModuleRecord* record, const float* output, size_t count) {
  double lo = count ? output[0] : 0, hi = lo, sum = 0, abs_sum = 0;
  for (size_t i = 0; i < count; ++i) {
    lo = std::min(lo, double(output[i]));
    hi = std::max(hi, double(output[i]));
    sum += output[i];
    abs_sum += std::fabs(output[i]);
  }
  record->min = lo;
  record->max = hi;
  record->mean = count ? sum / double(count) : 0;
  record->abs_sum = abs_sum;
}

json::Value to_json(const ModuleRecord& r) {
  json::Value v = json::Value::object();
  v.set("module", r.module);
  v.set("input_shape", shape_json(r.input_shape));
  v.set("output_shape", shape_json(r.output_shape));
  json::Value weights = json::Value::object();
  for (const auto& [name, shape] : r.weights) weights.set(name, shape_json(shape));
  v.set("weights", std::move(weights));
  v.set("dtype", r.dtype);
  v.set("min", r.min);
  v.set("max", r.max);
  v.set("mean", r.mean);
  v.set("abs_sum", r.abs_sum);
  return v;
}

}  // namespace mb::engine
