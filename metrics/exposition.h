// Prometheus text exposition format (version 0.0.4), written by hand: the format is small and
// a client library would bring a registry, threads and globals the daemon does not want.
//
//   # HELP keymesh_handshakes_completed_total Handshakes completed, either role.
//   # TYPE keymesh_handshakes_completed_total counter
//   keymesh_handshakes_completed_total 12
//   # HELP keymesh_drops_total Packets dropped, by reason.
//   # TYPE keymesh_drops_total counter
//   keymesh_drops_total{reason="policy_denied"} 3
//
// The Writer checks what a scraper would reject rather than trusting its callers: metric and
// label names must match the data model ([a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*,
// no `__` prefix on labels), a family appears once, a counter's name ends in `_total`, and a
// sample names each label once. Whatever breaks a rule is left out (the family, or the one
// sample) and counted in errors(), so one bad name never makes the whole page unreadable.
// Label values and HELP texts may hold any bytes: backslash, double quote (values only) and
// newline are escaped as the format asks, so no value can end a line or a label early.
//
// Not thread-safe; one Writer per scrape. It allocates (control path only).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace keymesh::metrics {

enum class Type : std::uint8_t { kCounter, kGauge };

struct Label {
  std::string_view name;
  std::string_view value;
};

bool valid_metric_name(std::string_view name) noexcept;
bool valid_label_name(std::string_view name) noexcept;
// `\` -> `\\`, `"` -> `\"`, newline -> `\n`; everything else unchanged.
std::string escape_label_value(std::string_view value);
// `\` -> `\\`, newline -> `\n` (HELP lines do not escape quotes).
std::string escape_help(std::string_view text);
// Integers up to 2^53 exactly without exponent or point; others shortest round-trip;
// NaN, +Inf, -Inf as the format spells them.
std::string format_value(double value);

class Writer {
 public:
  // Starts a family; the samples that follow belong to it until the next family().
  void family(std::string_view name, Type type, std::string_view help);
  void sample(std::span<const Label> labels, double value);
  void sample(std::initializer_list<Label> labels, double value) {
    sample(std::span<const Label>(labels.begin(), labels.size()), value);
  }
  void sample(double value) { sample(std::span<const Label>(), value); }

  const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }
  // Families and samples left out because they broke a rule above.
  std::size_t errors() const noexcept { return errors_; }

 private:
  std::string out_;
  std::string name_;          // the current family's; empty: none open or it was refused
  std::set<std::string, std::less<>> families_;
  std::size_t errors_ = 0;
};

}  // namespace keymesh::metrics
