#include "cli/args.h"

#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace mb::cli {

Args::Args(int argc, char** argv, int first, const std::set<std::string>& options, const std::set<std::string>& switches) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2);
      std::string value;
      bool inline_value = false;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (switches.count(name)) {
        if (inline_value) fail(Status::kInvalidArgument, "--", name, " takes no value");
        switches_.insert(name);
      } else if (options.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) fail(Status::kInvalidArgument, "--", name, " needs a value");
          value = argv[++i];
        }
        options_[name].push_back(value);
      } else {
        fail(Status::kInvalidArgument, "unknown option --", name);
      }
    } else {
      positional_.push_back(a);
    }
  }
}

const std::string& Args::positional(size_t i, const char* what) const {
  if (i >= positional_.size()) fail(Status::kInvalidArgument, "missing ", what);
  return positional_[i];
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0') fail(Status::kInvalidArgument, "--", name, " expects an integer, got '", *v, "'");
  return x;
}

uint64_t Args::get_size(const std::string& name, uint64_t fallback) const {
  auto v = get(name);
  return v ? parse_size(*v) : fallback;
}

uint64_t parse_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) fail(Status::kInvalidArgument, "size '", text, "' does not start with a number");
  double number = std::strtod(text.substr(0, i).c_str(), nullptr);
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 1;
  if (unit == "" || unit == "B") scale = 1;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "TB") scale = 1e12;
  else if (unit == "KIB") scale = 1024.0;
  else if (unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "GIB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  else fail(Status::kInvalidArgument, "size '", text, "': unknown unit '", unit, "'");
  return static_cast<uint64_t>(number * scale);
}

Format format_option(const Args& args, const char* name) {
  auto v = args.get(name);
  if (!v) return Format::kAuto;
  auto f = format_from_name(*v);
  if (!f) fail(Status::kInvalidArgument, "--", name, " '", *v, "': use safetensors, torch, torch_dist or megatron_legacy");
  return *f;
}

}  // namespace mb::cli

namespace mb::cli {

std::vector<int32_t> parse_token_ids(const std::string& text, const char* option) {
  std::vector<int32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(cur, &used);
    } catch (...) {
      used = 0;
    }
    if (used != cur.size() || v < 0 || v > INT32_MAX) fail(Status::kInvalidArgument, option, ": '", cur, "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '[' || c == ']') flush();
    else cur.push_back(c);
  }
  flush();
  return ids;
}

json::Value token_ids_json(const std::vector<int32_t>& ids) {
  json::Value a = json::Value::array();
  for (int32_t id : ids) a.push(int64_t{id});
  return a;
}

}  // namespace mb::cli
