// Where the Hub is, where its cache lies, which token to send and whether the network may be used: read from
// the environment variables the Python tools (huggingface_hub, transformers) read, so both share one cache
// and one login.
//   HF_ENDPOINT                    the Hub (https://huggingface.co)
//   HF_HOME                        $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
//   HF_HUB_CACHE                   $HF_HOME/hub (HUGGINGFACE_HUB_CACHE, the older name, is read too)
//   HF_TOKEN                       the access token (HUGGING_FACE_HUB_TOKEN, the older name, is read too)
//   HF_TOKEN_PATH                  the file holding the token when HF_TOKEN is unset ($HF_HOME/token, where
//                                  `hf auth login` / `huggingface-cli login` saves it)
//   HF_HUB_OFFLINE                 1: never touch the network, use the cache only (TRANSFORMERS_OFFLINE too)
//   HF_HUB_ETAG_TIMEOUT            seconds to wait for metadata answers (10)
//   HF_HUB_DOWNLOAD_TIMEOUT        seconds a download may stall before it is retried (10)
#pragma once

#include <string>

namespace mb::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string cache_dir;                            // the hub cache: models--org--name/ folders lie here
  std::string token;                                // "" when there is none
  std::string token_origin;                         // where it came from, for error messages ("HF_TOKEN", a path)
  bool offline = false;
  int workers = 4;                 // files downloaded at once
  long metadata_timeout_s = 10;    // connect + answer, for metadata requests
  long stall_timeout_s = 10;       // a download slower than 1 byte/s for this long is retried
  int retries = 5;                 // attempts after a dropped or failed transfer, resuming each time
  double retry_pause_s = 1.0;      // doubled after each failed attempt

  static HubSettings from_environment();
};

// "1", "ON", "YES", "TRUE" in any case, as huggingface_hub reads its switches.
bool env_flag(const char* name);

}  // namespace mb::hub
