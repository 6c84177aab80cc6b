// The parsed form of a chat template, shared by the parser (jinja_parse.cpp) and the renderer
// (jinja_render.cpp); private to the template engine.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_template.h"
#include "tokenizer/jinja_value.h"

namespace mb::jinja {

struct Expr {
  enum Type { kLiteral, kName, kAttr, kIndex, kSlice, kCall, kFilter, kTest, kNot, kNeg, kBinary, kCond, kList, kDict };
  Type type;
  Value literal;
  std::string name;  // kName, kAttr, kFilter, kTest; kBinary: the operator
  bool negated = false;  // kTest
  std::vector<std::shared_ptr<Expr>> kids;  // operands, arguments (kSlice: object, start, stop, step; null = absent)
  std::vector<std::pair<std::string, std::shared_ptr<Expr>>> kwargs;
};
using ExprPtr = std::shared_ptr<Expr>;

struct Template::Node {
  enum Type { kBody, kText, kOutput, kIf, kFor, kSet } type = kBody;
  std::string text;
  ExprPtr expr;                          // kOutput, kSet value, kFor iterable
  std::vector<std::shared_ptr<Node>> body;
  std::vector<std::pair<ExprPtr, std::shared_ptr<Node>>> branches;  // kIf: (condition, body); null condition = else
  std::vector<std::string> targets;      // kFor loop variables; kSet: name [, attribute]
};
using NodePtr = std::shared_ptr<Template::Node>;

// The template text as a tree; throws kInvalidArgument (with the line) for syntax it does not support.
NodePtr parse_template(const std::string& source);
// The tree rendered with the variables of `context` (a dict).
std::string render_template(const Template::Node& root, const Value& context);

}  // namespace mb::jinja
