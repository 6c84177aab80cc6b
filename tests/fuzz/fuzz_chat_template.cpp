// A chat template from untrusted bytes (tokenizer_config.json's chat_template comes with the model): parsed,
// then rendered for a conversation with a system prompt, tools, a tool call and its result. Any Error is
// fine (the renderer refuses what it does not support and what passes its limits); a crash, a hang, a leak
// or memory past the fuzzer's limit is not.
#include <string>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/jinja_template.h"

namespace {

mb::jinja::Value conversation() {
  const char* text = R"({
    "messages": [
      {"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "What is 2 + 2? Think first."},
      {"role": "assistant", "content": "<think>\nadd them\n</think>\n\nLet me call the tool.",
       "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
      {"role": "tool", "content": "4"},
      {"role": "assistant", "content": "It is 4."},
      {"role": "user", "content": "Thanks! \u00e9\ud83e\udd17"}
    ],
    "tools": [{"type": "function", "function": {"name": "add", "description": "Adds two integers.",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                              "required": ["a", "b"]}}}],
    "documents": null, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
    "add_generation_prompt": true, "enable_thinking": false
  })";
  return mb::jinja::Value::from_json(mb::json::parse(text, "fuzz conversation"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mb::jinja::Value context = conversation();
  try {
    const mb::jinja::Template chat_template(std::string(reinterpret_cast<const char*>(data), size));
    chat_template.render(context);
  } catch (const mb::Error&) {
  }
  return 0;
}
