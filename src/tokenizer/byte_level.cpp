#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace mb::byte_level {
namespace {
bool stands_for_itself(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

const std::array<char32_t, 256>& table() {
  static const std::array<char32_t, 256> t = [] {
    std::array<char32_t, 256> chars{};
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) chars[b] = stands_for_itself(b) ? static_cast<char32_t>(b) : next++;
    return chars;
  }();
  return t;
}
}  // namespace

char32_t char_of(uint8_t byte) { return table()[byte]; }

bool byte_of(char32_t c, uint8_t* byte) {
  static const std::array<int16_t, 0x144> bytes = [] {
    std::array<int16_t, 0x144> r;
    r.fill(-1);
    for (int b = 0; b < 256; ++b) r[table()[b]] = static_cast<int16_t>(b);
    return r;
  }();
  if (c >= bytes.size() || bytes[c] < 0) return false;
  *byte = static_cast<uint8_t>(bytes[c]);
  return true;
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) unicode::append_utf8(&out, char_of(static_cast<uint8_t>(b)));
  return out;
}

}  // namespace mb::byte_level
