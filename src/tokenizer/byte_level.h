// GPT-2's byte-level alphabet: every byte gets a printable character, so byte-level BPE vocabularies
// are strings. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
// bytes take U+0100, U+0101, ... in byte order (space is 'Ġ', newline 'Ċ').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mb::byte_level {

char32_t char_of(uint8_t byte);
// The byte a character stands for; false for characters outside the alphabet.
bool byte_of(char32_t c, uint8_t* byte);
// Every byte of `bytes` as its character, UTF-8 encoded.
std::string encode(std::string_view bytes);

}  // namespace mb::byte_level
