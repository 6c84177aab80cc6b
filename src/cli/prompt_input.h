// The prompt of `mbridge generate` and `mbridge compare`, from --prompt TEXT or --prompt-ids IDS, with --image
// files for a vision-language model and --chat: built as the seed scripts have transformers build it (the chat
// template around the user's text and images, each image's placeholder repeated as the image needs).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "cli/args.h"
#include "engine/image.h"
#include "engine/image_processor.h"
#include "tokenizer/tokenizer.h"

namespace mb::cli {

struct PromptInput {
  std::vector<int32_t> ids;           // image placeholders expanded
  std::vector<engine::Image> images;  // prepared from the --image files, in order
  std::vector<std::string> image_paths;
  std::string chat_text;              // the rendered chat template, when one was used
  std::unique_ptr<engine::ImageProcessor> processor;  // when there are images
};

// `config`: the model's; `processor_folder`: where its preprocessor_config.json is (may be empty); `tok` may be
// null (then --prompt is refused); `default_ids` stand in when neither --prompt nor --prompt-ids is given (empty:
// one of them is required).
PromptInput prompt_input(const Args& args, const bridge::ModelConfig& config, const Tokenizer* tok,
                         const std::string& processor_folder, const std::string& default_ids = "");

// {"path", "grid_thw" (Qwen2.5-VL), "tokens"} of each image, for --json output.
json::Value images_json(const PromptInput& input);

}  // namespace mb::cli
