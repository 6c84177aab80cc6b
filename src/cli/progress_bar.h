// A progress bar on stderr for long work (only when stderr is a terminal and --no-progress is absent).
#pragma once

#include "core/log.h"

namespace mb::cli {

// The callback to hand to library functions; nullptr-equivalent (empty) when disabled.
ProgressFn progress_bar(bool enabled);

}  // namespace mb::cli
