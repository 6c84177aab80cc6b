// The Hub's refusals turned into errors that say what to do. The Hub marks its answers with X-Error-Code
// (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound) and X-Error-Message; a 401 without a code
// means "not found, or private/gated and you are not logged in" (it does not tell which).
//   gated (401/403 GatedRepo)          -> kAccessDenied, with how to get access and set HF_TOKEN
//   RepoNotFound (401 or 404),         -> kNotFound (with a note on tokens: private repos answer the same)
//   RevisionNotFound, EntryNotFound, 404
//   401/403 otherwise                  -> kAccessDenied (token refused, or none sent)
//   429, 5xx, anything else            -> kNetwork
#pragma once

#include <string>

#include "hub/hub_id.h"
#include "hub/hub_settings.h"
#include "hub/http_client.h"

namespace mb::hub {

// `what` names the request ("meta-llama/Llama-3.2-1B@main", "…: config.json").
[[noreturn]] void fail_http(const HttpResponse& response, const HubId& id, const std::string& what,
                            const HubSettings& settings);

// Worth another attempt: 408, 429 and 5xx answers.
bool is_transient_status(long status);

}  // namespace mb::hub
