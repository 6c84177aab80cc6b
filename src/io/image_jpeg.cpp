// JPEG through libjpeg(-turbo), read from memory with its defaults (islow IDCT, fancy upsampling), as Pillow
// decodes. libjpeg reports errors by calling error_exit, which must not return: it longjmps back here.
// A file that ends before its image does is an error too (libjpeg only warns and fills in grey; Pillow refuses
// it as truncated); other corrupt-data warnings are let pass, as Pillow lets them.
#include <cstdio>

#include <csetjmp>
#include <jpeglib.h>
#include <jerror.h>

#include "core/error.h"
#include "io/image_file.h"

namespace mb {
namespace {

struct JpegErrors {
  jpeg_error_mgr manager;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error(j_common_ptr info) {
  auto* e = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, e->message);
  longjmp(e->jump, 1);
}

void on_message(j_common_ptr info, int level) {
  auto* e = reinterpret_cast<JpegErrors*>(info->err);
  if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF && !e->truncated) {
    e->truncated = true;
    (*info->err->format_message)(info, e->message);
  }
}

struct JpegReader {
  jpeg_decompress_struct info{};
  bool created = false;
  ~JpegReader() {
    if (created) jpeg_destroy_decompress(&info);
  }
};

}  // namespace

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& what) {
  JpegErrors errors{};
  JpegReader r;
  RgbImage out;
  int refusal = 0;  // set inside the setjmp region, thrown after it: 1 pixels, 2 CMYK, 3 layout
  r.info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_error;
  errors.manager.emit_message = on_message;
  if (setjmp(errors.jump)) fail(Status::kFormat, what, ": not a readable JPEG (", errors.message, ")");
  jpeg_create_decompress(&r.info);
  r.created = true;
  jpeg_mem_src(&r.info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&r.info, TRUE);
  const int64_t width = r.info.image_width, height = r.info.image_height;
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels) {
    refusal = 1;
  } else if (r.info.jpeg_color_space == JCS_CMYK || r.info.jpeg_color_space == JCS_YCCK) {
    refusal = 2;  // (Pillow converts CMYK to RGB with its own formula)
  } else {
    r.info.out_color_space = JCS_RGB;  // (grey is replicated, as Pillow's L -> RGB does)
    jpeg_start_decompress(&r.info);
    if (r.info.output_components != 3 || r.info.output_width != width || r.info.output_height != height) {
      refusal = 3;
    } else {
      out.width = width;
      out.height = height;
      out.pixels.resize(static_cast<size_t>(width * height * 3));
      while (r.info.output_scanline < r.info.output_height) {
        JSAMPROW row = out.pixels.data() + static_cast<size_t>(r.info.output_scanline) * static_cast<size_t>(width) * 3;
        if (jpeg_read_scanlines(&r.info, &row, 1) != 1) break;  // (no more data: a warning says why)
      }
      if (r.info.output_scanline == r.info.output_height) jpeg_finish_decompress(&r.info);
    }
  }
  if (refusal == 1)
    fail(Status::kUnsupported, what, ": a JPEG of ", width, " x ", height, " pixels, more than mbridge reads (",
         kMaxImagePixels, ")");
  if (refusal == 2) fail(Status::kUnsupported, what, ": a CMYK JPEG");
  if (refusal == 3) fail(Status::kFormat, what, ": libjpeg did not give 8-bit RGB rows");
  if (errors.truncated || r.info.output_scanline != r.info.output_height)
    fail(Status::kFormat, what, ": the JPEG data ends before the image does");
  return out;
}

}  // namespace mb
