#include "hub/hub_settings.h"

#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "core/paths.h"

namespace mb::hub {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string home_dir() {
  std::string home = env("HOME");
  if (!home.empty()) return home;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_dir ? pw->pw_dir : "";
  return "";
}

// "~/x" as the shell would expand it (huggingface_hub calls os.path.expanduser on these paths).
std::string expand_home(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) return home_dir() + path.substr(1);
  return path;
}

long positive_seconds(const char* name, long fallback) {
  std::string v = env(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  return (*end == '\0' && x > 0) ? x : fallback;
}

// The token file holds the token on its first line; surrounding whitespace is not part of it.
std::string trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string t = s.substr(b, e - b);
  return t.substr(0, t.find('\n'));
}

}  // namespace

bool env_flag(const char* name) {
  std::string v = env(name);
  for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

HubSettings HubSettings::from_environment() {
  HubSettings s;
  std::string endpoint = env("HF_ENDPOINT");
  if (!endpoint.empty()) s.endpoint = endpoint;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();

  std::string hf_home = env("HF_HOME");
  if (hf_home.empty()) {
    std::string xdg = env("XDG_CACHE_HOME");
    hf_home = join_path(xdg.empty() ? join_path(home_dir(), ".cache") : xdg, "huggingface");
  }
  hf_home = expand_home(hf_home);
  s.cache_dir = env("HF_HUB_CACHE");
  if (s.cache_dir.empty()) s.cache_dir = env("HUGGINGFACE_HUB_CACHE");
  if (s.cache_dir.empty()) s.cache_dir = join_path(hf_home, "hub");
  s.cache_dir = expand_home(s.cache_dir);

  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    std::string t = trimmed(env(name));
    if (!t.empty()) {
      s.token = t;
      s.token_origin = name;
      break;
    }
  }
  if (s.token.empty()) {
    std::string path = env("HF_TOKEN_PATH");
    path = path.empty() ? join_path(hf_home, "token") : expand_home(path);
    if (is_regular_file(path)) {
      try {
        s.token = trimmed(read_text_file(path, 64 << 10));
        s.token_origin = path;
      } catch (const std::exception&) {
        // an unreadable token file is no token; a gated model then says how to provide one
      }
    }
  }
  s.offline = env_flag("HF_HUB_OFFLINE") || env_flag("TRANSFORMERS_OFFLINE");
  s.metadata_timeout_s = positive_seconds("HF_HUB_ETAG_TIMEOUT", s.metadata_timeout_s);
  s.stall_timeout_s = positive_seconds("HF_HUB_DOWNLOAD_TIMEOUT", s.stall_timeout_s);
  return s;
}

}  // namespace mb::hub
