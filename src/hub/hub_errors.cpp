#include "hub/hub_errors.h"

#include "core/error.h"

namespace mb::hub {

namespace {

std::string token_note(const HubSettings& s) {
  if (s.token.empty()) return "no token was sent (HF_TOKEN is unset and there is no token file)";
  return "the token from " + s.token_origin + " was sent";
}

std::string how_to_get_access(const HubId& id, const HubSettings& s) {
  return cat("To use it: 1. log in at ", s.endpoint, " and request access on ", s.endpoint, "/", id.repo,
             " (accept the model's conditions; some are approved by hand); 2. create a read token at ", s.endpoint,
             "/settings/tokens; 3. export HF_TOKEN=hf_... (or save the token in $HF_HOME/token, as "
             "`hf auth login` does) and run again.");
}

}  // namespace

bool is_transient_status(long status) { return status == 408 || status == 429 || status >= 500; }

void fail_http(const HttpResponse& r, const HubId& id, const std::string& what, const HubSettings& s) {
  const std::string code = r.header("x-error-code").value_or("");
  const std::string server = r.header("x-error-message").value_or("");
  const std::string said = server.empty() ? "" : cat(" (the Hub says: ", server, ")");
  const std::string http = cat("HTTP ", r.status);

  if (code == "GatedRepo")
    fail(Status::kAccessDenied, what, ": ", id.repo, " is a gated model and ", token_note(s),
         r.status == 403 ? ", but it has no access to it" : "", said, ". ", how_to_get_access(id, s));
  if (code == "RevisionNotFound")
    fail(Status::kNotFound, what, ": revision '", id.revision, "' does not exist in ", id.repo, said);
  if (code == "EntryNotFound")
    fail(Status::kNotFound, what, ": no such file in ", id.repo, " at revision '", id.revision, "'", said);
  if (code == "RepoNotFound" || r.status == 404) {
    fail(Status::kNotFound, what, ": ", id.repo, " was not found on ", s.endpoint, " (", http, ")", said,
         ". Check the name; if the model is private or gated, ", token_note(s), ": ", how_to_get_access(id, s));
  }
  if (r.status == 401)
    fail(Status::kAccessDenied, what, ": ", s.endpoint, " refused ", token_note(s), " (", http, ")", said,
         ". Check that the token is valid and not expired (", s.endpoint, "/settings/tokens).");
  if (r.status == 403)
    fail(Status::kAccessDenied, what, ": access to ", id.repo, " is forbidden (", http, ") and ", token_note(s), said,
         ". ", how_to_get_access(id, s));
  fail(Status::kNetwork, what, ": ", s.endpoint, " answered ", http, said,
       is_transient_status(r.status) ? "; the Hub may be busy or down, try again later" : "");
}

}  // namespace mb::hub
