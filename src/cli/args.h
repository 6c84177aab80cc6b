// Command-line arguments: positionals, "--name value" options and "--flag" switches. Unknown options
// and missing values are errors that say which option is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

class Args {
 public:
  // `options` take a value, `switches` do not; anything else starting with "--" is an error.
  Args(int argc, char** argv, int first, const std::set<std::string>& options, const std::set<std::string>& switches);
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& positional(size_t i, const char* what) const;  // throws when missing
  std::optional<std::string> get(const std::string& name) const;  // the last value when given several times
  std::vector<std::string> get_all(const std::string& name) const;  // every value, in order (--image a --image b)
  bool has(const std::string& name) const { return switches_.count(name) > 0; }
  int64_t get_int(const std::string& name, int64_t fallback) const;
  uint64_t get_size(const std::string& name, uint64_t fallback) const;  // "5GB", "500MB", "2GiB", "123"

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> options_;
  std::set<std::string> switches_;
};

uint64_t parse_size(const std::string& text);
// Token ids written "1,2,3", "1 2 3" or "[1, 2, 3]"; errors name `option`.
std::vector<int32_t> parse_token_ids(const std::string& text, const char* option);
// Token ids as a JSON array, for --json output.
json::Value token_ids_json(const std::vector<int32_t>& ids);

// The format named by option --<name> ("auto" when absent); an unknown name is an error.
Format format_option(const Args& args, const char* name);

}  // namespace mb::cli
