// Seeds for fuzz_image, written at run time (scripts/fuzz-smoke.sh) with libpng's and libjpeg's own encoders:
// PNGs of every colour type (grey 1 and 16 bits, RGB, palette, grey + alpha, RGBA, interlaced) and JPEGs
// (colour, grey, progressive). A plain program (not a fuzzer): usage: fuzz_image_seeds OUT_DIR
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>  // (needs size_t and FILE declared first)
#include <png.h>

#include <string>
#include <vector>

#include "core/paths.h"

namespace {

void write_png(const std::string& path, int w, int h, int depth, int color, int interlace) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    png_set_PLTE(png, info, palette, 4);
  }
  png_write_info(png, info);
  const int passes = png_set_interlace_handling(png);  // (Adam7: every row once per pass)
  const size_t row_bytes = png_get_rowbytes(png, info);
  std::vector<png_byte> row(row_bytes);
  for (int pass = 0; pass < passes; ++pass)
    for (int y = 0; y < h; ++y) {
      for (size_t i = 0; i < row_bytes; ++i) row[i] = static_cast<png_byte>((i * 37 + y * 11) & (color == 3 ? 0x33 : 0xff));
      png_write_row(png, row.data());
    }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

void write_jpeg(const std::string& path, int w, int h, int components, bool progressive) {
  FILE* f = std::fopen(path.c_str(), "wb");
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = components;
  c.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<JSAMPLE> row(static_cast<size_t>(w * components));
  while (c.next_scanline < c.image_height) {
    for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<JSAMPLE>((i * 13 + c.next_scanline * 7) & 0xff);
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  mb::make_directories(out);
  write_png(mb::join_path(out, "grey1.png"), 13, 5, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "grey16.png"), 6, 4, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "rgb.png"), 12, 9, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "rgb16.png"), 5, 5, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "palette.png"), 9, 7, 2, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "grey_alpha.png"), 7, 3, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE);
  write_png(mb::join_path(out, "rgba_interlaced.png"), 10, 10, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_ADAM7);
  write_jpeg(mb::join_path(out, "rgb.jpg"), 16, 12, 3, false);
  write_jpeg(mb::join_path(out, "grey.jpg"), 9, 17, 1, false);
  write_jpeg(mb::join_path(out, "progressive.jpg"), 24, 16, 3, true);
  return 0;
}
