#include "kube/objects.h"

#include <nlohmann/json.hpp>

#include "common/json.h"

namespace keymesh::kube {
namespace {

using nlohmann::json;

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool valid_name_part(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool valid_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' && c != '.') return false;
  return alnum(s.front()) && alnum(s.back());
}

// A string member, "" when absent; an error when present with another type.
std::expected<std::string, std::string> str(const json& obj, const char* key, std::size_t max = 1024) {
  if (!obj.is_object()) return std::string();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::unexpected(std::string(key) + ": not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) return std::unexpected(std::string(key) + ": longer than " + std::to_string(max) + " bytes");
  return s;
}

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::expected<Labels, std::string> labels_of(const json& meta) {
  Labels out;
  const json& l = member(meta, "labels");
  if (l.is_null()) return out;
  if (!l.is_object()) return std::unexpected("metadata.labels: not an object");
  if (l.size() > kMaxLabels) return std::unexpected("metadata.labels: more than " + std::to_string(kMaxLabels));
  for (auto it = l.begin(); it != l.end(); ++it) {
    if (!it.value().is_string()) return std::unexpected("metadata.labels[" + json_string(it.key()) + "]: not a string");
    const auto& v = it.value().get_ref<const std::string&>();
    if (!valid_label_key(it.key())) return std::unexpected("metadata.labels: invalid key " + json_string(it.key()));
    if (!valid_label_value(v)) return std::unexpected("metadata.labels[" + it.key() + "]: invalid value " + json_string(v));
    out.emplace(it.key(), v);
  }
  return out;
}

#define KM_TRY(var, expr)                                    \
  auto var##_r = (expr);                                     \
  if (!var##_r) return std::unexpected(var##_r.error());     \
  auto var = std::move(*var##_r)

std::expected<Pod, std::string> pod_of(const json& o) {
  if (!o.is_object()) return std::unexpected("object: not an object");
  if (auto k = str(o, "kind"); k && !k->empty() && *k != "Pod") return std::unexpected("kind " + json_string(*k) + ", want Pod");
  const json& meta = member(o, "metadata");
  const json& spec = member(o, "spec");
  const json& status = member(o, "status");
  Pod p;
  KM_TRY(ns, str(meta, "namespace", 63));
  KM_TRY(name, str(meta, "name", 253));
  if (ns.empty() || name.empty()) return std::unexpected("metadata: namespace and name are required");
  KM_TRY(uid, str(meta, "uid", 64));
  KM_TRY(rv, str(meta, "resourceVersion", 64));
  KM_TRY(sa, str(spec, "serviceAccountName", 253));
  KM_TRY(node, str(spec, "nodeName", 253));
  KM_TRY(ip, str(status, "podIP", 64));
  KM_TRY(phase, str(status, "phase", 32));
  KM_TRY(labels, labels_of(meta));
  p.namespace_name = std::move(ns);
  p.name = std::move(name);
  p.uid = std::move(uid);
  p.resource_version = std::move(rv);
  p.service_account = sa.empty() ? "default" : std::move(sa);
  p.node_name = std::move(node);
  p.pod_ip = std::move(ip);
  p.phase = std::move(phase);
  p.labels = std::move(labels);
  const json& hn = member(spec, "hostNetwork");
  p.host_network = hn.is_boolean() && hn.get<bool>();
  p.terminating = !member(meta, "deletionTimestamp").is_null();
  return p;
}

std::expected<Namespace, std::string> namespace_of(const json& o) {
  if (!o.is_object()) return std::unexpected("object: not an object");
  if (auto k = str(o, "kind"); k && !k->empty() && *k != "Namespace")
    return std::unexpected("kind " + json_string(*k) + ", want Namespace");
  const json& meta = member(o, "metadata");
  Namespace n;
  KM_TRY(name, str(meta, "name", 63));
  if (name.empty()) return std::unexpected("metadata.name is required");
  KM_TRY(rv, str(meta, "resourceVersion", 64));
  KM_TRY(labels, labels_of(meta));
  n.name = std::move(name);
  n.resource_version = std::move(rv);
  n.labels = std::move(labels);
  n.terminating = !member(meta, "deletionTimestamp").is_null();
  return n;
}

std::expected<json, std::string> parse_json(std::string_view text, std::size_t max) {
  if (text.size() > max) return std::unexpected("longer than " + std::to_string(max) + " bytes");
  if (json_nesting_depth(text) > kMaxNesting) return std::unexpected("nested deeper than " + std::to_string(kMaxNesting));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::unexpected("not JSON");
  if (!j.is_object()) return std::unexpected("not a JSON object");
  return j;
}

}  // namespace

bool valid_label_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return valid_name_part(key);
  return valid_dns_subdomain(key.substr(0, slash)) && valid_name_part(key.substr(slash + 1));
}

bool valid_label_value(std::string_view value) { return value.empty() || valid_name_part(value); }

std::expected<WatchEvent, std::string> parse_watch_event(std::string_view line, Kind kind) {
  KM_TRY(j, parse_json(line, kMaxEventBytes));
  KM_TRY(type, str(j, "type", 16));
  const json& obj = member(j, "object");
  WatchEvent ev;
  if (type == "ADDED") ev.type = EventType::kAdded;
  else if (type == "MODIFIED") ev.type = EventType::kModified;
  else if (type == "DELETED") ev.type = EventType::kDeleted;
  else if (type == "BOOKMARK") ev.type = EventType::kBookmark;
  else if (type == "ERROR") ev.type = EventType::kError;
  else return std::unexpected("watch event: unknown type " + json_string(type));
  if (ev.type == EventType::kError) {
    const json& code = member(obj, "code");
    ev.error_code = code.is_number_integer() ? code.get<int>() : 0;
    KM_TRY(msg, str(obj, "message", 4096));
    ev.error_message = std::move(msg);
    return ev;
  }
  if (ev.type == EventType::kBookmark) {
    KM_TRY(rv, str(member(obj, "metadata"), "resourceVersion", 64));
    if (rv.empty()) return std::unexpected("bookmark without metadata.resourceVersion");
    ev.resource_version = std::move(rv);
    return ev;
  }
  if (kind == Kind::kPod) {
    auto p = pod_of(obj);
    if (!p) return std::unexpected("pod: " + p.error());
    ev.pod = std::move(*p);
    ev.resource_version = ev.pod.resource_version;
  } else {
    auto n = namespace_of(obj);
    if (!n) return std::unexpected("namespace: " + n.error());
    ev.ns = std::move(*n);
    ev.resource_version = ev.ns.resource_version;
  }
  return ev;
}

std::expected<List, std::string> parse_list(std::string_view body, Kind kind) {
  KM_TRY(j, parse_json(body, kMaxListBytes));
  List out;
  KM_TRY(rv, str(member(j, "metadata"), "resourceVersion", 64));
  out.resource_version = std::move(rv);
  const json& items = member(j, "items");
  if (items.is_null()) return out;
  if (!items.is_array()) return std::unexpected("items: not an array");
  // One bad item must not hide the others: it is skipped and counted.
  for (const auto& item : items) {
    if (kind == Kind::kPod) {
      if (auto p = pod_of(item)) out.pods.push_back(std::move(*p));
      else ++out.skipped;
    } else {
      if (auto n = namespace_of(item)) out.namespaces.push_back(std::move(*n));
      else ++out.skipped;
    }
  }
  return out;
}

std::expected<Pod, std::string> parse_pod(std::string_view body) {
  KM_TRY(j, parse_json(body, kMaxEventBytes));
  auto p = pod_of(j);
  if (!p) return std::unexpected("pod: " + p.error());
  return std::move(*p);
}

}  // namespace keymesh::kube
