// The Jinja subset chat templates are written in, rendered as transformers renders them (jinja2 with
// trim_blocks and lstrip_blocks, no trailing newline kept):
//   {{ expr }}, {% if/elif/else/endif %}, {% for x in xs %}...{% endfor %} (loop.index, index0, first, last,
//   length, revindex, revindex0; "for k, v in"), {% set x = expr %}, {% set ns.attr = expr %}, {# #},
//   whitespace control with '-';
//   expressions: literals, names, .attr, [index], [a:b:c], calls, filters (|trim, length, tojson, upper, lower,
//   string, default, first, last, join, items), tests (is [not] defined, none, string, number, mapping,
//   sequence, true, false), not/and/or, == != < > <= >=, in / not in, + - * / % ~, "a if c else b";
//   string methods (startswith, endswith, split, strip, lstrip, rstrip, upper, lower, replace), dict methods
//   (get, items, keys, values), namespace(), range(), raise_exception().
// Anything else is refused when the template is parsed, naming what and where. A template comes with the
// model, so rendering it has limits (time, text and list sizes, nesting, 64-bit integers: jinja_render.cpp).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/jinja_value.h"

namespace mb::jinja {

class Template {
 public:
  explicit Template(const std::string& source);  // throws kInvalidArgument for syntax it does not support
  ~Template();
  // `context` is a dict of the template's variables. raise_exception() in the template throws
  // kInvalidArgument with its message.
  std::string render(const Value& context) const;

  struct Node;

 private:
  std::shared_ptr<Node> root_;
};

}  // namespace mb::jinja
