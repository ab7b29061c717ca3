#include "common/yaml_fields.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>
#include <vector>

namespace keymesh::yaml {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string quote(std::string_view s) {
  constexpr std::size_t kShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (s.size() > kShown) out += "...";
  out += '"';
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return quote(n.Scalar());
    default:
      return "nothing";
  }
}

std::string at(const std::string& path, std::string_view problem) {
  return path.empty() ? std::string(problem) : path + ": " + std::string(problem);
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string item(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Result<void> check_map(const YAML::Node& n, const std::string& path, Keys allowed) {
  if (n.IsNull()) return {};
  if (!n.IsMap()) return fail(at(path, "expected a map, got " + describe(n)));
  std::vector<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar())
      return fail(at(path, "keys must be plain names, got " + describe(it->first)));
    const std::string& key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string msg = "unknown key " + quote(key);
      std::string_view best;
      std::size_t best_distance = 3;  // suggest only close misspellings
      for (auto candidate : allowed) {
        // A dropped suffix ("rekey_timeout" for "rekey_timeout_ms") counts as close.
        const bool prefix = key.size() >= 4 && candidate.starts_with(key);
        // The distance is at least the difference in length: a long unknown key (a pasted
        // value, a fuzzer's kilobyte of junk) is compared with no candidate, instead of a
        // key-length by candidate-length table for each of them (most of fuzz_config's time).
        const std::size_t longer = std::max(key.size(), candidate.size());
        const std::size_t shorter = std::min(key.size(), candidate.size());
        if (!prefix && longer - shorter >= best_distance) continue;
        const std::size_t d = prefix ? 1 : edit_distance(key, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) msg += " (did you mean " + std::string(best) + "?)";
      return fail(at(path, msg));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return fail(at(path, "key " + quote(key) + " appears more than once"));
    seen.push_back(key);
  }
  return {};
}

YAML::Node field(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return YAML::Node();
  const YAML::Node& m = map;
  return m[std::string(key)];
}

Result<std::string> get_string(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) return fail(at(path, "expected a string, got " + describe(n)));
  return n.Scalar();
}

Result<std::int64_t> get_int(const YAML::Node& n, const std::string& path, std::int64_t lo,
                             std::int64_t hi) {
  if (!n.IsScalar()) return fail(at(path, "expected an integer, got " + describe(n)));
  const std::string& s = n.Scalar();
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  const std::string range = "must be " + std::to_string(lo) + "-" + std::to_string(hi);
  if (ec == std::errc::result_out_of_range && end == s.data() + s.size())
    return fail(at(path, range + ", got " + s));
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return fail(at(path, "expected an integer, got " + quote(s)));
  if (v < lo || v > hi) return fail(at(path, range + ", got " + s));
  return v;
}

std::size_t count_documents(const std::string& text) {
  // A second document needs a marker: `---` to start it or `...` to end the first. Without
  // either, skip the second full scan (yaml-cpp's scanner is most of a load's cost).
  if (text.find("---") == std::string::npos && text.find("...") == std::string::npos) return 1;
  struct Ignore final : YAML::EventHandler {
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } ignore;
  std::istringstream in(text);
  YAML::Parser parser(in);
  std::size_t n = 0;
  while (n < 2 && parser.HandleNextDocument(ignore)) ++n;
  return n;
}

std::string one_of(Keys names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace keymesh::yaml
