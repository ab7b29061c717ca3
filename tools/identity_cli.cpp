#include "tools/identity_cli.h"

#include "common/json.h"

#include <charconv>
#include <chrono>
#include <ctime>

#include <sodium.h>
#include <unistd.h>

#include "common/bytes.h"
#include "identity/cert_file.h"
#include "identity/chain.h"
#include "identity/files.h"

namespace keymesh::tools {

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

namespace {

std::vector<std::string> prefixes(const std::vector<IpPrefix>& nets) {
  std::vector<std::string> out;
  for (const auto& n : nets) out.push_back(n.to_string());
  return out;
}


std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + json_string(items[i]);
  return out + "]";
}

std::string label_patterns_text(const std::vector<identity::LabelPattern>& patterns) {
  if (patterns.empty()) return "none";
  std::vector<std::string> out;
  for (const auto& p : patterns) {
    std::string values;
    for (const auto& v : p.values) values += (values.empty() ? "" : "|") + v;
    out.push_back(p.key + "=" + (p.values.empty() ? "*" : values));
  }
  return join(out);
}

std::string validity_note(const identity::CertificateFields& f, std::int64_t now) {
  if (now < f.not_before) return "not yet valid, starts in " + format_duration(f.not_before - now);
  if (now > f.not_after) return "expired " + format_duration(now - f.not_after) + " ago";
  if (now == f.not_after) return "expires now";
  return "expires in " + format_duration(f.not_after - now);
}

}  // namespace

Result<std::int64_t> parse_duration(std::string_view text) {
  const std::string bad = "\"" + std::string(text) +
                          "\" is not a duration (e.g. 24h, 30m, 90s, 7d, 1h30m)";
  if (text.empty()) return fail(bad);
  std::int64_t total = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    std::int64_t n = 0;
    auto [next, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || next == end || n < 0) return fail(bad);
    std::int64_t unit = 0;
    switch (*next) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return fail(bad);
    }
    if (n > identity::kMaxTime / unit || total > identity::kMaxTime - n * unit)
      return fail("\"" + std::string(text) + "\" is too long a duration");
    total += n * unit;
    p = next + 1;
  }
  if (total <= 0) return fail(bad);
  return total;
}

std::string format_duration(std::int64_t s) {
  if (s <= 0) return "0s";
  std::string out;
  const auto part = [&](std::int64_t n, const char* unit) {
    if (n == 0) return;
    out += (out.empty() ? "" : " ") + std::to_string(n) + unit;
  };
  part(s / 86400, "d");
  part(s / 3600 % 24, "h");
  part(s / 60 % 60, "m");
  part(s % 60, "s");
  return out;
}

Result<std::int64_t> parse_time(std::string_view text) {
  std::int64_t n = 0;
  auto [next, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && next == text.data() + text.size()) return n;
  std::tm tm{};
  const std::string s(text);
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!rest || *rest != '\0')
    return fail("\"" + s + "\" is not a time (unix seconds or 2025-01-02T03:04:05Z)");
  return std::int64_t(::timegm(&tm));
}


std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<IpPrefix> parse_prefix(const std::string& text, const char* option, bool bare_is_host) {
  std::string full = text;
  if (bare_is_host && text.find('/') == std::string::npos)
    full += text.find(':') != std::string::npos ? "/128" : "/32";
  auto p = IpPrefix::parse(full);
  if (!p)
    return fail(std::string(option) + " \"" + text + "\" is not " +
                (bare_is_host ? "an address or CIDR" : "a CIDR"));
  if (p->network() != *p)
    return fail(std::string(option) + " \"" + text + "\" has host bits set (write " +
                p->network().to_string() + ")");
  return *p;
}

Result<std::map<std::string, std::string>> parse_pairs(const std::vector<std::string>& items,
                                                       const char* option) {
  std::map<std::string, std::string> out;
  for (const auto& l : items) {
    const auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(std::string(option) + " \"" + l + "\" is not key=value");
    if (!out.emplace(l.substr(0, eq), l.substr(eq + 1)).second)
      return fail(std::string(option) + ": key \"" + l.substr(0, eq) + "\" given twice");
  }
  return out;
}

Result<void> refuse_overwrite(std::initializer_list<std::string> paths, bool force) {
  if (force) return {};
  for (const auto& p : paths)
    if (!p.empty() && ::access(p.c_str(), F_OK) == 0)
      return fail(p + " already exists (use --force to overwrite it)");
  return {};
}

Result<Issuer> read_issuer(const std::string& ca_file, const std::string& key_file,
                           std::string_view role) {
  auto chain = identity::read_certificates_file(ca_file);
  if (!chain) return std::unexpected(chain.error());
  const identity::Certificate& ca = chain->front();
  if (!ca.is_ca()) return fail(ca_file + ": " + ca.describe() + " is not a CA");
  auto key = identity::read_ca_key_file(key_file);
  if (!key) return std::unexpected(key.error());
  if (!equal_ct(key->public_key(), ca.public_key()))
    return fail(key_file + " is not the private key of " + ca_file + " (" + ca.describe() + ")");
  if (auto r = identity::check_validity(ca, std::chrono::system_clock::now(),
                                        std::chrono::seconds(0));
      !r)
    return fail("the " + std::string(role) + " cannot sign now: " + r.error().message);
  return Issuer{std::move(*chain), std::move(*key)};
}

Result<void> write_x25519_key(const std::string& path, const crypto::SecretKey& key, bool force) {
  std::string text = to_base64(key.span()) + "\n";
  auto r = identity::write_identity_file(path, text, 0600, force);
  sodium_memzero(text.data(), text.size());
  return r;
}

std::string show_certificate(const identity::Certificate& cert, std::int64_t now) {
  const auto& f = cert.fields();
  std::string out;
  const auto line = [&](const char* key, const std::string& value) {
    out += key;
    out.append(14 - std::string_view(key).size(), ' ');
    out += value + "\n";
  };
  line("name:", f.name);
  line("kind:", std::string(identity::kind_name(f.kind)));
  if (f.kind == identity::Kind::User) line("subject:", f.subject);
  line("fingerprint:", cert.fingerprint_hex());
  line("public key:", to_base64(f.public_key) + (cert.is_ca() ? " (Ed25519)" : " (X25519)"));
  line("networks:", f.networks.empty() ? "-" : join(prefixes(f.networks)));
  line("groups:", f.groups.empty() ? "-" : join(f.groups));
  std::vector<std::string> labels;
  for (const auto& [k, v] : f.labels) labels.push_back(k + "=" + v);
  line("labels:", labels.empty() ? "-" : join(labels));
  line("not before:", identity::format_utc(f.not_before));
  line("not after:", identity::format_utc(f.not_after) + " (" + validity_note(f, now) + ")");
  line("issuer:", f.issuer ? to_hex(*f.issuer) : "self-signed (root)");
  if (cert.is_ca()) {
    const auto& c = cert.constraints();
    out += "constraints:\n";
    line("  networks:", c.allowed_networks.empty() ? "any" : join(prefixes(c.allowed_networks)));
    line("  names:", c.name_pattern.empty() ? "any" : c.name_pattern);
    line("  lifetime:", c.max_lifetime_seconds == 0
                            ? "no limit"
                            : "at most " + format_duration(c.max_lifetime_seconds));
    line("  sign CAs:", c.may_sign_ca ? "yes" : "no");
    line("  groups:", !c.allowed_groups ? "any"
                      : c.allowed_groups->empty() ? "none" : join(*c.allowed_groups));
    line("  labels:", !c.allowed_labels ? "any" : label_patterns_text(*c.allowed_labels));
    std::vector<std::string> kinds;
    for (auto k : c.allowed_kinds) kinds.emplace_back(identity::kind_name(k));
    line("  kinds:", kinds.empty() ? "any" : join(kinds));
    line("  node:", c.node.empty() ? "any (not bound to one node)" : c.node);
    line("  subjects:", c.subject_pattern.empty() ? "any" : c.subject_pattern);
    std::vector<std::string> context;
    for (const auto& [k, v] : f.context) context.push_back(k + "=" + v);
    line("context:", context.empty() ? "-" : join(context));
  }
  return out;
}

std::string certificate_json(const identity::Certificate& cert, std::int64_t now) {
  const auto& f = cert.fields();
  std::string out = "{";
  out += "\"name\":" + json_string(f.name);
  out += ",\"kind\":" + json_string(identity::kind_name(f.kind));
  if (f.kind == identity::Kind::User) out += ",\"subject\":" + json_string(f.subject);
  out += ",\"fingerprint\":" + json_string(cert.fingerprint_hex());
  out += ",\"public_key\":" + json_string(to_base64(f.public_key));
  out += ",\"networks\":" + json_array(prefixes(f.networks));
  out += ",\"groups\":" + json_array(f.groups);
  out += ",\"labels\":{";
  bool first = true;
  for (const auto& [k, v] : f.labels) {
    out += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
    first = false;
  }
  out += "}";
  out += ",\"not_before\":" + json_string(identity::format_utc(f.not_before));
  out += ",\"not_after\":" + json_string(identity::format_utc(f.not_after));
  out += ",\"valid_now\":" +
         std::string(now >= f.not_before && now <= f.not_after ? "true" : "false");
  out += ",\"issuer_fingerprint\":" + (f.issuer ? json_string(to_hex(*f.issuer)) : "null");
  if (cert.is_ca()) {
    const auto& c = cert.constraints();
    out += ",\"constraints\":{\"allowed_networks\":" + json_array(prefixes(c.allowed_networks));
    out += ",\"name_pattern\":" + json_string(c.name_pattern);
    out += ",\"max_lifetime_seconds\":" + std::to_string(c.max_lifetime_seconds);
    out += ",\"may_sign_ca\":" + std::string(c.may_sign_ca ? "true" : "false");
    out += ",\"allowed_groups\":" + (c.allowed_groups ? json_array(*c.allowed_groups) : "null");
    out += ",\"allowed_labels\":";
    if (!c.allowed_labels) {
      out += "null";
    } else {
      out += "[";
      for (std::size_t i = 0; i < c.allowed_labels->size(); ++i) {
        const auto& p = (*c.allowed_labels)[i];
        out += std::string(i ? "," : "") + "{\"key\":" + json_string(p.key) +
               ",\"values\":" + json_array(p.values) + "}";
      }
      out += "]";
    }
    std::vector<std::string> kinds;
    for (auto k : c.allowed_kinds) kinds.emplace_back(identity::kind_name(k));
    out += ",\"allowed_kinds\":" + json_array(kinds);
    out += ",\"node\":" + (c.node.empty() ? std::string("null") : json_string(c.node));
    out += ",\"subject_pattern\":" + json_string(c.subject_pattern) + "}";
    out += ",\"context\":{";
    bool first_ctx = true;
    for (const auto& [k, v] : f.context) {
      out += (first_ctx ? "" : ",") + json_string(k) + ":" + json_string(v);
      first_ctx = false;
    }
    out += "}";
  }
  return out + "}";
}

}  // namespace keymesh::tools
