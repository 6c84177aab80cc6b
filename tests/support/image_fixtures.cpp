#include "support/image_fixtures.h"

#include <stdexcept>

namespace mbtest {

std::vector<int32_t> ids_of(const mb::Tensor& t) {
  const mb::Tensor x = t.contiguous().to(mb::DType::I64);
  const int64_t* p = x.data_as<int64_t>();
  return std::vector<int32_t>(p, p + x.numel());
}

std::vector<float> floats_of(const mb::Tensor& t) {
  const mb::Tensor x = t.contiguous().to(mb::DType::F32);
  return std::vector<float>(x.data_as<float>(), x.data_as<float>() + x.numel());
}

mb::engine::Image llava_image_of(const mb::Tensor& pixel_values) {
  const mb::Dims& s = pixel_values.shape();
  if (s.size() != 4) throw std::invalid_argument("LLaVA pixel_values must be [1, channels, height, width]");
  mb::engine::Image im;
  im.channels = s[1];
  im.height = s[2];
  im.width = s[3];
  im.pixels = floats_of(pixel_values);
  return im;
}

mb::engine::Image qwen_image_of(const mb::Tensor& pixel_values, const mb::Tensor& grid_thw) {
  const std::vector<int32_t> g = ids_of(grid_thw);
  mb::engine::Image im;
  im.channels = 3;
  im.pixels = floats_of(pixel_values);
  im.grid_t = g.at(0);
  im.grid_h = g.at(1);
  im.grid_w = g.at(2);
  return im;
}

}  // namespace mbtest
