// File-system helpers, and the one check every reader applies to a file name that came out of a file
// (an index's shard names, a checkpoint's storage names): it must stay inside its directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mb {

std::string join_path(const std::string& dir, const std::string& name);
std::string parent_path(const std::string& path);
std::string file_name(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);
uint64_t file_size(const std::string& path);
std::vector<std::string> list_directory(const std::string& dir);  // names, sorted
void make_directories(const std::string& dir);
void remove_tree(const std::string& path) noexcept;
void rename_path(const std::string& from, const std::string& to);
std::string read_text_file(const std::string& path, size_t max_bytes = 64u << 20);

// Throws a format error naming `source` unless `name` is a relative path that cannot leave its
// directory: not empty, no leading '/', no '..' component, no backslash, no NUL or control character.
// `allow_subdirs` false also rejects '/'.
void check_relative_name(const std::string& name, const std::string& source, bool allow_subdirs);

}  // namespace mb
