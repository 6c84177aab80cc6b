// PNG through libpng, read from memory. libpng reports errors by longjmp: everything with a destructor is
// constructed before setjmp, and C++ exceptions are thrown only after control is back in this frame.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "io/image_file.h"

namespace mb {
namespace {

struct PngInput {
  const uint8_t* data;
  size_t size, at;
  char message[200];
};

void read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->at) png_error(png, "the file ends inside the image");
  std::memcpy(out, in->data + in->at, n);
  in->at += n;
}

void on_error(png_structp png, png_const_charp message) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->message, sizeof(in->message), "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // (Pillow ignores what libpng only warns about)

// Frees libpng's structures however the decoder leaves.
struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

}  // namespace

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& what) {
  PngInput in{data, size, 0, {}};
  PngReader r;
  RgbImage out;
  std::vector<png_bytep> rows;
  std::vector<png_byte> grey16;
  std::string refusal;  // set inside the setjmp region, thrown after it
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, on_error, on_warning);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.png || !r.info) fail(Status::kOutOfMemory, what, ": libpng could not start");
  if (setjmp(png_jmpbuf(r.png))) fail(Status::kFormat, what, ": not a readable PNG (", in.message, ")");
  png_set_read_fn(r.png, &in, read_bytes);
  png_set_user_limits(r.png, static_cast<png_uint_32>(kMaxImageSide), static_cast<png_uint_32>(kMaxImageSide));
  png_set_chunk_malloc_max(r.png, 64u << 20);  // (metadata chunks: the pixels are allocated here, bounded)
  png_read_info(r.png, r.info);
  png_uint_32 width = 0, height = 0;
  int depth = 0, color = 0;
  png_get_IHDR(r.png, r.info, &width, &height, &depth, &color, nullptr, nullptr, nullptr);
  const bool grey = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA;
  if (static_cast<int64_t>(width) * height > kMaxImagePixels) {
    refusal = "pixels";
  } else if (color == PNG_COLOR_TYPE_GRAY && depth == 16) {  // Pillow's mode I: to RGB, values past 255 clip
    png_set_interlace_handling(r.png);
    png_read_update_info(r.png, r.info);
    if (png_get_rowbytes(r.png, r.info) != static_cast<size_t>(width) * 2) {
      refusal = "layout";
    } else {
      out.width = width;
      out.height = height;
      out.pixels.resize(static_cast<size_t>(width) * height * 3);
      grey16.resize(static_cast<size_t>(width) * height * 2);
      rows.resize(height);
      for (png_uint_32 y = 0; y < height; ++y) rows[y] = grey16.data() + static_cast<size_t>(y) * width * 2;
      png_read_image(r.png, rows.data());
      for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i) {
        const int v = grey16[2 * i] << 8 | grey16[2 * i + 1];  // (big-endian samples)
        out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  } else if (grey && depth == 16) {
    refusal = "16-bit grey with alpha";
  } else {
    if (depth == 16) png_set_strip_16(r.png);  // Pillow's RGB;16B keeps the high byte
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(r.png);
    if (grey) png_set_gray_to_rgb(r.png);
    png_set_interlace_handling(r.png);
    png_read_update_info(r.png, r.info);
    if (png_get_rowbytes(r.png, r.info) != static_cast<size_t>(width) * 3) {
      refusal = "layout";
    } else {
      out.width = width;
      out.height = height;
      out.pixels.resize(static_cast<size_t>(width) * height * 3);
      rows.resize(height);
      for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.pixels.data() + static_cast<size_t>(y) * width * 3;
      png_read_image(r.png, rows.data());
    }
  }
  if (refusal == "pixels")
    fail(Status::kUnsupported, what, ": a PNG of ", width, " x ", height, " pixels, more than mbridge reads (",
         kMaxImagePixels, ")");
  if (refusal == "16-bit grey with alpha") fail(Status::kUnsupported, what, ": a 16-bit grey PNG with alpha");
  if (refusal == "layout") fail(Status::kFormat, what, ": libpng did not give 8-bit RGB rows");
  return out;
}

}  // namespace mb
