// The two metadata requests mbridge makes to the Hub: the repository listing of a revision, and the HEAD
// of one file (its commit, etag, size and download location). Both send the token, ask for uncompressed
// answers, retry busy answers and dropped connections a few times, and turn refusals into clear errors.
#pragma once

#include <string>

#include "hub/cache_layout.h"
#include "hub/hub_id.h"
#include "hub/hub_protocol.h"
#include "hub/hub_settings.h"

namespace mb::hub {

// "Authorization: Bearer <token>", or "" without a token; a token no header can carry is an error.
std::string auth_header(const HubSettings& settings);

RepoListing request_listing(const HubId& id, const HubSettings& settings);

// HEAD of `file` at `revision`. When the Hub says the file does not exist (EntryNotFound with the commit),
// the answer is remembered in `cache` (.no_exist/) before the kNotFound error is thrown.
FileMetadata request_file_metadata(const HubId& id, const std::string& revision, const std::string& file,
                                   const RepoCache& cache, const HubSettings& settings);

}  // namespace mb::hub
