#include "docker/docker_messages.h"

#include <nlohmann/json.hpp>

#include "common/json.h"

namespace keymesh::docker {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxIdBytes = 128;

std::string type_name(const json& v) { return v.is_null() ? "null" : std::string(v.type_name()); }

Result<json> parse_object(std::string_view body) {
  // dockerd sends no body at all for calls without arguments.
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  if (body.size() > kMaxBodyBytes) return fail("request body is larger than 1 MiB");
  if (json_nesting_depth(body) > kMaxBodyDepth)
    return fail("request body nests deeper than " + std::to_string(kMaxBodyDepth));
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("request body is not valid JSON");
  if (!doc.is_object()) return fail("request body must be a JSON object, got " + type_name(doc));
  return doc;
}

// A string member; absent or null is "". `field` is the name used in errors.
Result<std::string> string_at(const json& obj, const char* key, const std::string& field) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(field + ": must be a string, got " + type_name(*it));
  return it->get<std::string>();
}

// Docker's IDs are 64 hex digits. They name state keys and veth tags, so anything else is
// refused before it gets there.
Result<std::string> id_at(const json& obj, const char* key) {
  auto v = string_at(obj, key, key);
  if (!v) return v;
  if (v->empty()) return fail(std::string(key) + ": required");
  if (v->size() > kMaxIdBytes)
    return fail(std::string(key) + ": longer than " + std::to_string(kMaxIdBytes) + " bytes");
  for (std::size_t i = 0; i < v->size(); ++i) {
    const char c = (*v)[i];
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
      return fail(std::string(key) + ": not a Docker ID (letters, digits, _ . -)");
  }
  return v;
}

Result<bool> bool_at(const json& obj, const char* key, const std::string& field) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) return fail(field + ": must be a boolean, got " + type_name(*it));
  return it->get<bool>();
}

// The string-valued members of an object member (null or absent: none). Other values are
// skipped: Options also carries port lists and flags the driver has no use for.
Result<StringOptions> options_at(const json& obj, const char* key, const std::string& field) {
  StringOptions out;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_object()) return fail(field + ": must be an object, got " + type_name(*it));
  for (auto m = it->begin(); m != it->end(); ++m)
    if (m->is_string()) out.emplace(m.key(), m->get<std::string>());
  return out;
}

Result<std::vector<IpamData>> ipam_data_at(const json& obj, const char* key) {
  std::vector<IpamData> out;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return fail(std::string(key) + ": must be a list, got " + type_name(*it));
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    const std::string at = std::string(key) + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return fail(at + ": must be an object, got " + type_name(e));
    IpamData d;
    for (auto [member, target] : {std::pair{"AddressSpace", &d.address_space},
                                  std::pair{"Pool", &d.pool}, std::pair{"Gateway", &d.gateway}}) {
      auto v = string_at(e, member, at + "." + member);
      if (!v) return std::unexpected(v.error());
      *target = std::move(*v);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// Assigns each (member, target) string, stopping at the first error.
Result<void> strings(const json& obj,
                     std::initializer_list<std::pair<const char*, std::string*>> members) {
  for (auto [member, target] : members) {
    auto v = string_at(obj, member, member);
    if (!v) return std::unexpected(v.error());
    *target = std::move(*v);
  }
  return {};
}

}  // namespace

Result<void> parse_empty(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  return {};
}

Result<CreateNetwork> parse_create_network(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  CreateNetwork r;
  auto id = id_at(*doc, "NetworkID");
  if (!id) return std::unexpected(id.error());
  r.network_id = std::move(*id);
  if (const auto opts = doc->find("Options"); opts != doc->end() && !opts->is_null()) {
    if (!opts->is_object()) return fail("Options: must be an object, got " + type_name(*opts));
    auto generic = options_at(*opts, "com.docker.network.generic",
                              "Options.com.docker.network.generic");
    if (!generic) return std::unexpected(generic.error());
    r.generic = std::move(*generic);
    auto v6 = bool_at(*opts, "com.docker.network.enable_ipv6",
                      "Options.com.docker.network.enable_ipv6");
    if (!v6) return std::unexpected(v6.error());
    r.enable_ipv6 = *v6;
  }
  auto v4 = ipam_data_at(*doc, "IPv4Data");
  if (!v4) return std::unexpected(v4.error());
  r.ipv4 = std::move(*v4);
  auto v6 = ipam_data_at(*doc, "IPv6Data");
  if (!v6) return std::unexpected(v6.error());
  r.ipv6 = std::move(*v6);
  return r;
}

Result<EndpointRef> parse_network_ref(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  auto id = id_at(*doc, "NetworkID");
  if (!id) return std::unexpected(id.error());
  return EndpointRef{std::move(*id), {}};
}

// NetworkID and EndpointID of a parsed body (most endpoint calls start with them).
static Result<EndpointRef> endpoint_ref_of(const json& doc) {
  auto network = id_at(doc, "NetworkID");
  if (!network) return std::unexpected(network.error());
  auto endpoint = id_at(doc, "EndpointID");
  if (!endpoint) return std::unexpected(endpoint.error());
  return EndpointRef{std::move(*network), std::move(*endpoint)};
}

Result<EndpointRef> parse_endpoint_ref(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  return endpoint_ref_of(*doc);
}

Result<CreateEndpoint> parse_create_endpoint(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  CreateEndpoint r;
  auto ref = endpoint_ref_of(*doc);
  if (!ref) return std::unexpected(ref.error());
  r.network_id = std::move(ref->network_id);
  r.endpoint_id = std::move(ref->endpoint_id);
  if (const auto itf = doc->find("Interface"); itf != doc->end() && !itf->is_null()) {
    if (!itf->is_object()) return fail("Interface: must be an object, got " + type_name(*itf));
    for (auto [member, target] :
         {std::pair{"Address", &r.address}, std::pair{"AddressIPv6", &r.address_ipv6},
          std::pair{"MacAddress", &r.mac_address}}) {
      auto v = string_at(*itf, member, std::string("Interface.") + member);
      if (!v) return std::unexpected(v.error());
      *target = std::move(*v);
    }
  }
  auto options = options_at(*doc, "Options", "Options");
  if (!options) return std::unexpected(options.error());
  r.options = std::move(*options);
  return r;
}

Result<Join> parse_join(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  Join r;
  auto ref = endpoint_ref_of(*doc);
  if (!ref) return std::unexpected(ref.error());
  r.network_id = std::move(ref->network_id);
  r.endpoint_id = std::move(ref->endpoint_id);
  if (auto s = strings(*doc, {{"SandboxKey", &r.sandbox_key}}); !s) return std::unexpected(s.error());
  auto options = options_at(*doc, "Options", "Options");
  if (!options) return std::unexpected(options.error());
  r.options = std::move(*options);
  return r;
}

Result<RequestPool> parse_request_pool(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  RequestPool r;
  if (auto s = strings(*doc, {{"AddressSpace", &r.address_space},
                              {"Pool", &r.pool},
                              {"SubPool", &r.sub_pool}});
      !s)
    return std::unexpected(s.error());
  auto options = options_at(*doc, "Options", "Options");
  if (!options) return std::unexpected(options.error());
  r.options = std::move(*options);
  auto v6 = bool_at(*doc, "V6", "V6");
  if (!v6) return std::unexpected(v6.error());
  r.v6 = *v6;
  return r;
}

Result<ReleasePool> parse_release_pool(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  ReleasePool r;
  if (auto s = strings(*doc, {{"PoolID", &r.pool_id}}); !s) return std::unexpected(s.error());
  if (r.pool_id.empty()) return fail("PoolID: required");
  return r;
}

Result<RequestAddress> parse_request_address(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  RequestAddress r;
  if (auto s = strings(*doc, {{"PoolID", &r.pool_id}, {"Address", &r.address}}); !s)
    return std::unexpected(s.error());
  if (r.pool_id.empty()) return fail("PoolID: required");
  auto options = options_at(*doc, "Options", "Options");
  if (!options) return std::unexpected(options.error());
  r.options = std::move(*options);
  return r;
}

Result<ReleaseAddress> parse_release_address(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return std::unexpected(doc.error());
  ReleaseAddress r;
  if (auto s = strings(*doc, {{"PoolID", &r.pool_id}, {"Address", &r.address}}); !s)
    return std::unexpected(s.error());
  if (r.pool_id.empty()) return fail("PoolID: required");
  if (r.address.empty()) return fail("Address: required");
  return r;
}

std::string error_body(std::string_view message) {
  json doc = {{"Err", std::string(message)}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace keymesh::docker
