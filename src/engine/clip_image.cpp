#include "engine/clip_image.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mb::engine {
namespace {

// A side given as a number or as one member of an object; 0 where the key is absent.
int64_t side(const json::Value* v, const char* member, const std::string& source, const char* what) {
  if (!v || v->is_null()) return 0;
  if (v->is_object()) v = v->find(member);
  if (!v || v->is_null()) return 0;
  if (!v->is_number() || v->as_int() <= 0 || v->as_int() > kMaxImageSide)
    fail(Status::kFormat, source, ": ", what, " must be a positive integer up to ", kMaxImageSide);
  return v->as_int();
}

bool flag(const json::Value& config, const char* key, bool fallback, const std::string& source) {
  const json::Value* v = config.find(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_bool()) fail(Status::kFormat, source, ": ", key, " must be true or false");
  return v->as_bool();
}

// Where a centre crop of `crop` starts in `length`: (length - crop) / 2 rounded down, as transformers crops (its
// torchvision-backed processors too, checked against transformers 5.17 on an odd margin). Negative when the
// image is smaller: the rest is zero padding, the leading side getting the smaller half.
int64_t crop_start(int64_t length, int64_t crop) {
  if (length < crop) return -((crop - length) / 2);
  return (length - crop) / 2;
}

}  // namespace

ClipPreprocessing clip_preprocessing_from(const json::Value& config, const std::string& source, int64_t image_size) {
  if (!config.is_object()) fail(Status::kFormat, source, ": not a JSON object");
  if (image_size <= 0) fail(Status::kInvalidArgument, source, ": the tower's image size is unknown");
  ClipPreprocessing p;
  p.shortest_edge = p.crop_height = p.crop_width = image_size;
  if (!flag(config, "do_resize", true, source) || !flag(config, "do_rescale", true, source) ||
      !flag(config, "do_normalize", true, source))
    fail(Status::kUnsupported, source, ": do_resize, do_rescale and do_normalize must be true (as LLaVA's are)");
  const json::Value* size = config.find("size");
  if (size && size->is_object() && !size->find("shortest_edge")) {
    // {"height", "width"}: resized straight to that size (a square one is a shortest edge of that length)
    const int64_t h = side(size, "height", source, "size.height"), w = side(size, "width", source, "size.width");
    if (h != w) fail(Status::kUnsupported, source, ": size ", w, " x ", h, " (a shortest edge or a square is supported)");
    if (h) p.shortest_edge = h;
  } else if (int64_t s = side(size, "shortest_edge", source, "size.shortest_edge")) {
    p.shortest_edge = s;
  }
  p.center_crop = flag(config, "do_center_crop", true, source);
  const json::Value* crop = config.find("crop_size");
  if (int64_t h = side(crop, "height", source, "crop_size.height")) p.crop_height = h;
  if (int64_t w = side(crop, "width", source, "crop_size.width")) p.crop_width = w;
  if (const json::Value* r = config.find("resample"); r && !r->is_null() && (!r->is_number() || r->as_int() != 3))
    fail(Status::kUnsupported, source, ": resample must be 3 (bicubic)");
  read_normalisation(config, source, p.mean, p.std);
  return p;
}

Image preprocess_clip(const RgbImage& image, const ClipPreprocessing& p) {
  if (image.width <= 0 || image.height <= 0) fail(Status::kInvalidArgument, "an empty image");
  // transformers' get_resize_output_image_size(default_to_square=False): the short side becomes shortest_edge,
  // the long one int(shortest_edge * long / short)
  const bool wide = image.width > image.height;
  const int64_t short_side = wide ? image.height : image.width, long_side = wide ? image.width : image.height;
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(p.shortest_edge) * static_cast<double>(long_side) /
                                                static_cast<double>(short_side));
  if (new_long > kMaxImageSide)
    fail(Status::kInvalidArgument, "an image of ", image.width, " x ", image.height, ": its aspect ratio is too large");
  const int64_t width = wide ? new_long : p.shortest_edge, height = wide ? p.shortest_edge : new_long;
  RgbImage resized = resize_bicubic(image, width, height, p.resize);
  if (p.center_crop) {
    const int64_t top = crop_start(height, p.crop_height), left = crop_start(width, p.crop_width);
    RgbImage cropped;
    cropped.width = p.crop_width;
    cropped.height = p.crop_height;
    cropped.pixels.assign(static_cast<size_t>(p.crop_width * p.crop_height * 3), 0);  // padding is black
    for (int64_t y = 0; y < p.crop_height; ++y) {
      const int64_t sy = top + y;
      if (sy < 0 || sy >= height) continue;
      for (int64_t x = 0; x < p.crop_width; ++x) {
        const int64_t sx = left + x;
        if (sx < 0 || sx >= width) continue;
        std::copy_n(&resized.pixels[static_cast<size_t>((sy * width + sx) * 3)], 3,
                    &cropped.pixels[static_cast<size_t>((y * p.crop_width + x) * 3)]);
      }
    }
    resized = std::move(cropped);
  }
  Image out;
  out.channels = 3;
  out.height = resized.height;
  out.width = resized.width;
  out.pixels = normalised_channels(resized.pixels.data(), resized.height, resized.width, p.mean, p.std);
  return out;
}

}  // namespace mb::engine
