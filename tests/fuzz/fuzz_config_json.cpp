// json::parse then parse_hf_config; a parsed document must also survive dump() and parse() unchanged.
#include <string_view>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source = "fuzz/config.json";
  try {
    mb::json::Value v = mb::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), source);
    mb::json::Value again = mb::json::parse(mb::json::dump(v), source);
    if (!(again == v)) __builtin_trap();
    if (!(mb::json::parse(mb::json::dump(v, 2), source) == v)) __builtin_trap();
    mb::HfConfig c = mb::parse_hf_config(v, source);
    c.number("partial_rotary_factor");
    c.integer("rope_theta");
    c.boolean("use_cache");
  } catch (const mb::Error&) {
  }
  return 0;
}
