#include "tokenizer/jinja_template.h"

#include "tokenizer/jinja_tree.h"

namespace mb::jinja {

Template::Template(const std::string& source) : root_(parse_template(source)) {}

Template::~Template() = default;

std::string Template::render(const Value& context) const { return render_template(*root_, context); }

}  // namespace mb::jinja
