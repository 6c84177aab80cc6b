#include "hub/hub_id.h"

namespace mb::hub {

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_name_char(char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; }

std::optional<HubId> reject(std::string* why, const char* reason) {
  if (why) *why = reason;
  return std::nullopt;
}

}  // namespace

bool valid_repo_name_part(const std::string& part) {
  if (part.empty() || part.size() > 96) return false;
  for (char c : part)
    if (!is_name_char(c)) return false;
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (!word(part.front()) || !word(part.back())) return false;
  return part.find("--") == std::string::npos && part.find("..") == std::string::npos;
}

bool valid_revision(const std::string& revision) {
  if (revision.empty() || revision.size() > 255) return false;
  size_t start = 0;
  while (start <= revision.size()) {
    size_t end = revision.find('/', start);
    if (end == std::string::npos) end = revision.size();
    std::string part = revision.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part)
      if (!is_name_char(c)) return false;
    start = end + 1;
  }
  return true;
}

bool is_commit_sha(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::optional<HubId> parse_hub_id(const std::string& text, std::string* why) {
  HubId id;
  std::string repo = text;
  if (size_t at = text.find('@'); at != std::string::npos) {
    repo = text.substr(0, at);
    id.revision = text.substr(at + 1);
    id.explicit_revision = true;
    if (!valid_revision(id.revision))
      return reject(why, "the revision after '@' must be a branch, tag or commit (letters, digits, - _ . /)");
  }
  size_t slash = repo.find('/');
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos)
    return reject(why, "a Hub id has the form org/name[@revision]");
  if (!valid_repo_name_part(repo.substr(0, slash)) || !valid_repo_name_part(repo.substr(slash + 1)))
    return reject(why, "org and name are 1-96 letters, digits, '-', '_' or '.', without '--' or '..'");
  id.repo = repo;
  return id;
}

std::string repo_folder_name(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/') out += "--";
    else out.push_back(c);
  }
  return out;
}

}  // namespace mb::hub
