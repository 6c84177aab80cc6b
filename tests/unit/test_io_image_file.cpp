// PNG and JPEG decoding (io/image_file.h): every PNG colour type and depth Pillow's convert("RGB") handles,
// built byte by byte here (signature, chunks with their CRCs, zlib-compressed scanlines), decoded to the RGB
// values Pillow gives; JPEGs written by libjpeg itself; and hostile files: truncated, corrupt, oversized,
// neither format. (Whether the values equal Pillow's on real files is checked by test_engine_qwen2_vl_image on
// the images transformers' processor read.)
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>  // (needs size_t and FILE declared first)
#include <zlib.h>

#include "core/error.h"
#include "io/crc32.h"
#include "io/image_file.h"
#include "support/test_support.h"

using namespace mb;

namespace {

void put_u32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string chunk(const char* type, const std::string& data) {
  std::string c;
  put_u32(c, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  c += body;
  put_u32(c, crc32_of(body.data(), body.size()));
  return c;
}

// A PNG of `rows` (each a scanline's bytes, without the filter byte) with the given IHDR fields.
std::string png(uint32_t width, uint32_t height, int depth, int color, const std::vector<std::string>& rows,
                const std::string& palette = "") {
  std::string ihdr;
  put_u32(ihdr, width);
  put_u32(ihdr, height);
  ihdr += {static_cast<char>(depth), static_cast<char>(color), 0, 0, 0};
  std::string raw;
  for (const std::string& r : rows) raw += '\0' + r;  // filter type 0 (none)
  uLongf size = compressBound(raw.size());
  std::string z(size, '\0');
  compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 6);
  z.resize(size);
  std::string out = "\x89PNG\r\n\x1a\n";
  out += chunk("IHDR", ihdr);
  if (!palette.empty()) out += chunk("PLTE", palette);
  out += chunk("IDAT", z);
  out += chunk("IEND", "");
  return out;
}

RgbImage decode(const std::string& bytes) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test image");
}

std::string bytes_of(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) s.push_back(static_cast<char>(x));
  return s;
}

std::vector<uint8_t> rgb(std::initializer_list<int> v) { return std::vector<uint8_t>(v.begin(), v.end()); }

void expect_refused(const std::string& bytes, Status status, const std::string& needle) {
  try {
    decode(bytes);
    ADD_FAILURE() << "decoded: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << needle << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << needle << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("test image"), std::string::npos) << e.what();
  }
}

std::string jpeg(int width, int height, int components, const std::vector<uint8_t>& pixels) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = components;
  c.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 95, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels.data()) + c.next_scanline * static_cast<size_t>(width * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<char*>(buffer), size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return out;
}

}  // namespace

TEST(ImageFile, PngColourTypesBecomeRgbAsPillowConvertsThem) {
  // 8-bit RGB: as stored
  RgbImage i = decode(png(2, 1, 8, 2, {bytes_of({1, 2, 3, 250, 251, 252})}));
  EXPECT_EQ(i.width, 2);
  EXPECT_EQ(i.height, 1);
  EXPECT_EQ(i.pixels, rgb({1, 2, 3, 250, 251, 252}));
  // grey: replicated; grey + alpha and RGBA: alpha dropped, not composited
  EXPECT_EQ(decode(png(2, 1, 8, 0, {bytes_of({7, 200})})).pixels, rgb({7, 7, 7, 200, 200, 200}));
  EXPECT_EQ(decode(png(1, 1, 8, 4, {bytes_of({90, 0})})).pixels, rgb({90, 90, 90}));
  EXPECT_EQ(decode(png(1, 2, 8, 6, {bytes_of({10, 20, 30, 0}), bytes_of({40, 50, 60, 128})})).pixels,
            rgb({10, 20, 30, 40, 50, 60}));
  // 16-bit RGB: the high byte of each sample
  EXPECT_EQ(decode(png(1, 1, 16, 2, {bytes_of({0x12, 0xff, 0x80, 0x01, 0xfe, 0x80})})).pixels, rgb({0x12, 0x80, 0xfe}));
  // 16-bit grey: Pillow's 32-bit integers, clipped to 255 on the way to RGB
  EXPECT_EQ(decode(png(2, 1, 16, 0, {bytes_of({0x00, 0x25, 0x01, 0x00})})).pixels, rgb({0x25, 0x25, 0x25, 255, 255, 255}));
  // 1-bit grey: 0 and 255
  EXPECT_EQ(decode(png(3, 1, 1, 0, {bytes_of({0b10100000})})).pixels, rgb({255, 255, 255, 0, 0, 0, 255, 255, 255}));
  // a palette
  EXPECT_EQ(decode(png(2, 1, 8, 3, {bytes_of({1, 0})}, bytes_of({9, 8, 7, 100, 101, 102}))).pixels,
            rgb({100, 101, 102, 9, 8, 7}));
}

TEST(ImageFile, HostilePngsAreRefusedWithTheFileNamed) {
  const std::string good = png(2, 1, 8, 2, {bytes_of({1, 2, 3, 4, 5, 6})});
  expect_refused(good.substr(0, good.size() - 20), Status::kFormat, "PNG");  // cut inside the image data
  std::string bad_crc = good;
  bad_crc[29] ^= 1;  // IHDR's CRC
  expect_refused(bad_crc, Status::kFormat, "PNG");
  // a header asking for 65,536 x 65,536 pixels: refused before anything that large is allocated
  std::string huge;
  put_u32(huge, 65536);
  put_u32(huge, 65536);
  huge += bytes_of({8, 2, 0, 0, 0});
  expect_refused("\x89PNG\r\n\x1a\n" + chunk("IHDR", huge) + chunk("IDAT", ""), Status::kUnsupported, "pixels");
  expect_refused(png(1, 1, 16, 4, {bytes_of({1, 2, 3, 4})}), Status::kUnsupported, "16-bit grey PNG with alpha");
  expect_refused("GIF89a....", Status::kFormat, "neither a PNG nor a JPEG");
  expect_refused("", Status::kFormat, "neither a PNG nor a JPEG");
}

TEST(ImageFile, JpegsDecodeAndTruncatedOnesAreRefused) {
  std::vector<uint8_t> pixels(64 * 48 * 3);  // (large enough that the scan, not the tables, is most of the file)
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7 % 256 / 2 + 60);
  const std::string colour = jpeg(64, 48, 3, pixels);
  const RgbImage i = decode(colour);
  EXPECT_EQ(i.width, 64);
  EXPECT_EQ(i.height, 48);
  ASSERT_EQ(i.pixels.size(), pixels.size());
  double err = 0;
  for (size_t k = 0; k < pixels.size(); ++k) err += std::abs(int(i.pixels[k]) - int(pixels[k]));
  EXPECT_LT(err / pixels.size(), 20.0);  // lossy, but the picture
  // grey: every pixel's three channels equal
  const RgbImage g = decode(jpeg(8, 8, 1, std::vector<uint8_t>(64, 77)));
  for (size_t k = 0; k < g.pixels.size(); k += 3) {
    EXPECT_EQ(g.pixels[k], g.pixels[k + 1]);
    EXPECT_EQ(g.pixels[k], g.pixels[k + 2]);
    EXPECT_NEAR(g.pixels[k], 77, 2);
  }
  expect_refused(colour.substr(0, colour.size() * 3 / 4), Status::kFormat, "ends before the image");
  expect_refused(colour.substr(0, 40), Status::kFormat, "JPEG");
  std::string garbage = colour.substr(0, 3) + std::string(200, '\x55');
  expect_refused(garbage, Status::kFormat, "JPEG");
}

TEST(ImageFile, ReadsByContentNotByName) {
  const std::string dir = mbtest::scratch_dir("image_file");
  mbtest::write_file(dir + "/picture.jpg", png(1, 1, 8, 2, {bytes_of({5, 6, 7})}));  // a PNG named .jpg
  EXPECT_EQ(read_image_file(dir + "/picture.jpg").pixels, rgb({5, 6, 7}));
  EXPECT_THROW(read_image_file(dir + "/missing.png"), Error);
}
