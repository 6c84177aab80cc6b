// A JSON description of an opened model (Hugging Face folder or Megatron checkpoint): its family and
// architecture, Megatron's TransformerConfig for it, the Hugging Face config, the layout and sizes.
// What mb_bridge_info and `mbridge config` print.
#pragma once

#include "bridge/convert.h"
#include "bridge/param_source.h"
#include "io/json.h"

namespace mb::bridge {

json::Value bridge_info(const ParamSource& source);
// {"families": [{"family", "architectures", "description"}...]}
json::Value supported_families_json();
// [{"param", "a", "b", "equal", "note"?}...]: a verify_models report, as mb_verify and `compare --models` give it.
json::Value verify_rows_json(const std::vector<VerifyRow>& rows);

}  // namespace mb::bridge
