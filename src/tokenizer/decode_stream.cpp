#include "tokenizer/decode_stream.h"

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace mb {
namespace {
bool ends_incomplete(const std::string& s) { return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0; }
}  // namespace

DecodeStream::DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_(skip_special_tokens) {}

std::string DecodeStream::step(int32_t id) {
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, skip_);
  if (text.size() <= prefix_.size() || ends_incomplete(text)) return {};
  if (text.compare(0, prefix_.size(), prefix_) != 0)
    fail(Status::kInternal, "streaming decode: the text of earlier tokens changed (decoder not prefix-stable)");
  std::string added = text.substr(prefix_.size());
  // The ids just emitted become the context of the next step; older context is dropped.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
  context_ = ids_.size();
  prefix_ = tokenizer_.decode(ids_, skip_);
  return added;
}

std::string DecodeStream::finish() {
  std::string text = tokenizer_.decode(ids_, skip_);
  std::string rest = text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : std::string();
  ids_.clear();
  context_ = 0;
  prefix_.clear();
  return rest;
}

}  // namespace mb
