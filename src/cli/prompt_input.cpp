#include "cli/prompt_input.h"

#include "core/error.h"

namespace mb::cli {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return !prefix.empty() && text.compare(0, prefix.size(), prefix) == 0;
}

// The user's turn as the chat template renders it, then the assistant's start: the images first, then the text
// (the content list transformers' processors take), or the text alone.
std::string chat_prompt(const Tokenizer& tok, const std::string& text, size_t images) {
  json::Value message = json::Value::object();
  message.set("role", "user");
  if (images == 0) {
    message.set("content", text);
  } else {
    json::Value content = json::Value::array();
    for (size_t i = 0; i < images; ++i) {
      json::Value image = json::Value::object();
      image.set("type", "image");
      content.push(std::move(image));
    }
    json::Value part = json::Value::object();
    part.set("type", "text");
    part.set("text", text);
    content.push(std::move(part));
    message.set("content", std::move(content));
  }
  json::Value messages = json::Value::array();
  messages.push(std::move(message));
  return tok.apply_chat_template(messages, true, json::Value());
}

}  // namespace

PromptInput prompt_input(const Args& args, const bridge::ModelConfig& config, const Tokenizer* tok,
                         const std::string& processor_folder, const std::string& default_ids) {
  const auto text = args.get("prompt"), ids = args.get("prompt-ids");
  if (text && ids) fail(Status::kInvalidArgument, "give one of --prompt and --prompt-ids, not both");
  if (!text && !ids && default_ids.empty()) fail(Status::kInvalidArgument, "give --prompt or --prompt-ids");
  if (text && !tok) fail(Status::kInvalidArgument, "--prompt needs a tokenizer (--tokenizer, or a --hf-model folder with one)");
  PromptInput in;
  in.image_paths = args.get_all("image");
  if (!in.image_paths.empty()) {
    in.processor = std::make_unique<engine::ImageProcessor>(config, processor_folder);
    for (const std::string& path : in.image_paths) in.images.push_back(in.processor->load(path));
  }
  if (text) {
    // with images, a text without the image token goes through the chat template (the seed's VLM script)
    const std::string* placeholder = in.processor ? tok->id_to_token(in.processor->placeholder()) : nullptr;
    const bool has_placeholder = placeholder && text->find(*placeholder) != std::string::npos;
    if (args.has("chat") || (in.processor && !has_placeholder)) {
      in.chat_text = chat_prompt(*tok, *text, in.images.size());
      // as transformers' processors encode a rendered template: special tokens added unless it starts with bos
      in.ids = tok->encode(in.chat_text, !starts_with(in.chat_text, tok->bos_token()));
    } else {
      in.ids = tok->encode(*text);
    }
  } else {
    in.ids = parse_token_ids(ids.value_or(default_ids), "--prompt-ids");
  }
  if (in.processor) in.ids = in.processor->expand(in.ids, in.images);
  return in;
}

json::Value images_json(const PromptInput& input) {
  json::Value list = json::Value::array();
  for (size_t i = 0; i < input.images.size(); ++i) {
    const engine::Image& im = input.images[i];
    json::Value image = json::Value::object();
    image.set("path", input.image_paths[i]);
    if (im.grid_t) {
      json::Value grid = json::Value::array();
      for (int64_t v : {im.grid_t, im.grid_h, im.grid_w}) grid.push(v);
      image.set("grid_thw", std::move(grid));
    }
    image.set("tokens", input.processor->tokens_of(im));
    list.push(std::move(image));
  }
  return list;
}

}  // namespace mb::cli
