#include "core/paths.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/virtual_files.h"

namespace fs = std::filesystem;

namespace mb {

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string parent_path(const std::string& path) { return fs::path(path).parent_path().string(); }
std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

// Paths inside a mounted bundle (core/virtual_files.h) are answered by the bundle; every other path by
// the file system.

bool path_exists(const std::string& path) {
  if (auto v = find_virtual(path)) return v->tree->is_directory(v->relative) || v->tree->is_file(v->relative);
  std::error_code ec;
  return fs::exists(path, ec);
}

bool is_directory(const std::string& path) {
  if (auto v = find_virtual(path)) return v->tree->is_directory(v->relative);
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool is_regular_file(const std::string& path) {
  if (auto v = find_virtual(path); v && !v->relative.empty()) return v->tree->is_file(v->relative);
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

uint64_t file_size(const std::string& path) {
  if (auto v = find_virtual(path); v && !v->relative.empty()) return v->tree->file_size(v->relative);
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  if (ec) fail(Status::kIo, path, ": cannot read its size: ", ec.message());
  return n;
}

std::vector<std::string> list_directory(const std::string& dir) {
  if (auto v = find_virtual(dir)) return v->tree->list(v->relative);
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  if (ec) fail(Status::kIo, dir, ": cannot list: ", ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

void make_directories(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(Status::kIo, dir, ": cannot create directory: ", ec.message());
}

void remove_tree(const std::string& path) noexcept {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void rename_path(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) fail(Status::kIo, from, ": cannot rename to ", to, ": ", ec.message());
}

std::string read_text_file(const std::string& path, size_t max_bytes) {
  if (auto v = find_virtual(path); v && !v->relative.empty()) {
    if (!v->tree->is_file(v->relative)) fail(Status::kNotFound, path, ": cannot open (no such file in the bundle)");
    if (v->tree->file_size(v->relative) > max_bytes)
      fail_format(path, "larger than ", max_bytes, " bytes, refusing to read it whole");
    auto f = MappedFile::open(path);
    auto keep = f->pin(0, f->size());
    return std::string(reinterpret_cast<const char*>(f->data()), f->size());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path_exists(path) ? Status::kIo : Status::kNotFound, path, ": cannot open");
  std::string s;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof(buf));
    s.append(buf, static_cast<size_t>(in.gcount()));
    if (s.size() > max_bytes) fail_format(path, "larger than ", max_bytes, " bytes, refusing to read it whole");
  }
  return s;
}

void check_relative_name(const std::string& name, const std::string& source, bool allow_subdirs) {
  if (name.empty()) fail_format(source, "empty file name");
  if (name.size() > 4096) fail_format(source, "file name longer than 4096 bytes");
  if (name[0] == '/') fail_format(source, "absolute path '", name, "' where a name inside the directory belongs");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F || c == '\\')
      fail_format(source, "file name with a control character or backslash: '", name, "'");
    if (c == '/' && !allow_subdirs) fail_format(source, "file name '", name, "' must not contain '/'");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (part == "..") fail_format(source, "file name '", name, "' escapes its directory ('..')");
    if (part.empty() && end != name.size()) fail_format(source, "file name '", name, "' has an empty component");
    start = end + 1;
  }
}

}  // namespace mb
