// The mb_bridge handle, shared by the conversion calls (api_bridge.cpp) and weight loading (api_model.cpp).
#pragma once

#include <memory>
#include <string>

#include "bridge/param_source.h"

struct mb_bridge {
  std::unique_ptr<mb::bridge::ParamSource> source;
  std::string error;
  std::string info_json;
};
