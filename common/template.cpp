#include "common/template.h"

#include <cctype>

namespace keymesh {

namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// One pass over the template. With `vars` null it only checks the syntax; otherwise it also
// expands into *out. Returns "" or the problem.
std::string walk(std::string_view text, const TemplateVars* vars, std::string_view unset_note,
                 std::string* out) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$') {
      if (out) *out += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      if (out) *out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{')
      return "a '$' must start ${NAME} (or be written $$), at offset " + std::to_string(i);
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return "unterminated ${ at offset " + std::to_string(i);
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view fallback;
    bool has_fallback = false;
    if (const auto sep = inner.find(":-"); sep != std::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
      has_fallback = true;
    }
    bool good = !inner.empty() && name_start(inner[0]);
    for (const char n : inner) good = good && name_char(n);
    if (!good)
      return "bad variable name \"" + std::string(inner.substr(0, 40)) + "\" at offset " +
             std::to_string(i);
    if (vars != nullptr) {
      const auto it = vars->find(inner);
      if (it != vars->end() && !it->second.empty()) {
        *out += it->second;
      } else if (has_fallback) {
        *out += fallback;
      } else {
        return "${" + std::string(inner) + "} is not set" + std::string(unset_note);
      }
    }
    i = close;
  }
  return {};
}

}  // namespace

std::string template_problem(std::string_view text) { return walk(text, nullptr, {}, nullptr); }

Result<std::string> expand_template(std::string_view text, const TemplateVars& vars,
                                    std::string_view unset_note) {
  std::string out;
  if (auto problem = walk(text, &vars, unset_note, &out); !problem.empty()) return fail(problem);
  return out;
}

std::string identity_name_problem(std::string_view name) {
  if (name.empty() || name.size() > 253)
    return "must expand to 1-253 bytes, got " + std::to_string(name.size());
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "must not contain whitespace or control characters";
  }
  return {};
}

}  // namespace keymesh
