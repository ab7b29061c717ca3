#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace keymesh::metrics {

namespace {

bool name_char(char c, bool first, bool colon) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, colon)) return false;
  return true;
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept { return valid_name(name, true); }

bool valid_label_name(std::string_view name) noexcept {
  // Names starting with `__` are reserved for Prometheus itself.
  return valid_name(name, false) && !name.starts_with("__");
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  // Whole numbers below 2^53 are exact in a double: print them as integers.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, std::int64_t(value));
    return std::string(buffer, end);
  }
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

void Writer::family(std::string_view name, Type type, std::string_view help) {
  name_.clear();
  const bool ok = valid_metric_name(name) && !families_.contains(name) &&
                  (type != Type::kCounter || name.ends_with("_total"));
  if (!ok) {
    ++errors_;
    return;
  }
  families_.emplace(name);
  name_ = name;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == Type::kCounter ? " counter\n" : " gauge\n";
}

void Writer::sample(std::span<const Label> labels, double value) {
  if (name_.empty()) {
    ++errors_;
    return;
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    bool ok = valid_label_name(labels[i].name);
    for (std::size_t j = 0; ok && j < i; ++j) ok = labels[j].name != labels[i].name;
    if (!ok) {
      ++errors_;
      return;
    }
  }
  out_ += name_;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) out_ += ',';
      out_ += labels[i].name;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

}  // namespace keymesh::metrics
