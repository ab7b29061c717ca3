#include "cni/result.h"

#include "cni/version.h"

namespace keymesh::cni {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// Converts an object parsed from stdin (sorted keys) into the ordered form we print.
ordered_json ordered(const json& v) { return ordered_json::parse(v.dump(-1, ' ', false, json::error_handler_t::replace)); }

std::unexpected<CniError> bad_prev(std::string_view field, std::string_view problem) {
  return cni_fail(Code::kInvalidConfig, "prevResult." + std::string(field) + ": " + std::string(problem));
}

}  // namespace

ordered_json result_document(std::string_view version, const AttachResult& ours,
                             const std::optional<json>& prev) {
  ordered_json doc = ordered_json::object();
  doc["cniVersion"] = version;
  ordered_json interfaces = ordered_json::array();
  ordered_json ips = ordered_json::array();
  ordered_json routes = ordered_json::array();
  ordered_json dns = ours.dns.is_object() ? ordered(ours.dns) : ordered_json();
  if (prev) {
    const auto take = [&](const char* key, ordered_json& into) {
      const auto it = prev->find(key);
      if (it != prev->end() && it->is_array())
        for (const auto& e : *it) into.push_back(ordered(e));
    };
    take("interfaces", interfaces);
    take("ips", ips);
    take("routes", routes);
    // The config's dns (ours) wins; otherwise an earlier plugin's is kept.
    if (dns.is_null())
      if (const auto it = prev->find("dns"); it != prev->end() && it->is_object()) dns = ordered(*it);
  }
  const int shift = int(interfaces.size());
  for (const auto& i : ours.interfaces) {
    ordered_json e = ordered_json::object();
    e["name"] = i.name;
    if (!i.mac.empty()) e["mac"] = i.mac;
    if (i.mtu > 0 && version_has_interface_mtu(version)) e["mtu"] = i.mtu;
    if (!i.sandbox.empty()) e["sandbox"] = i.sandbox;
    interfaces.push_back(std::move(e));
  }
  for (const auto& ip : ours.ips) {
    ordered_json e = ordered_json::object();
    e["address"] = ip.address;
    if (!ip.gateway.empty()) e["gateway"] = ip.gateway;
    if (ip.interface >= 0) e["interface"] = ip.interface + shift;
    ips.push_back(std::move(e));
  }
  for (const auto& r : ours.routes) {
    ordered_json e = ordered_json::object();
    e["dst"] = r.dst;
    if (!r.gw.empty()) e["gw"] = r.gw;
    routes.push_back(std::move(e));
  }
  doc["interfaces"] = std::move(interfaces);
  doc["ips"] = std::move(ips);
  if (!routes.empty()) doc["routes"] = std::move(routes);
  doc["dns"] = dns.is_null() ? ordered_json::object() : std::move(dns);
  return doc;
}

std::string dump_json(const ordered_json& doc) {
  return doc.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

CniResult<ExpectedAttachment> find_attachment(const json& prev, std::string_view netns,
                                              std::string_view ifname) {
  const auto ifs = prev.find("interfaces");
  if (ifs == prev.end() || !ifs->is_array()) return bad_prev("interfaces", "missing");
  std::optional<std::size_t> index;
  ExpectedAttachment out;
  for (std::size_t i = 0; i < ifs->size(); ++i) {
    const json& e = (*ifs)[i];
    if (!e.is_object()) return bad_prev("interfaces[" + std::to_string(i) + "]", "must be an object");
    const auto name = e.find("name");
    const auto sandbox = e.find("sandbox");
    if (name == e.end() || !name->is_string() || *name != ifname) continue;
    if (sandbox == e.end() || !sandbox->is_string() || *sandbox != netns) continue;
    index = i;
    if (const auto mac = e.find("mac"); mac != e.end() && mac->is_string()) out.mac = *mac;
    break;
  }
  if (!index)
    return bad_prev("interfaces", "no interface \"" + std::string(ifname) + "\" in sandbox \"" +
                                      std::string(netns) + "\"");
  const auto ips = prev.find("ips");
  if (ips == prev.end() || !ips->is_array()) return bad_prev("ips", "missing");
  for (std::size_t i = 0; i < ips->size(); ++i) {
    const json& e = (*ips)[i];
    const std::string at = "ips[" + std::to_string(i) + "]";
    if (!e.is_object()) return bad_prev(at, "must be an object");
    const auto iface = e.find("interface");
    if (iface == e.end() || !iface->is_number_integer() || iface->get<long long>() != static_cast<long long>(*index))
      continue;
    const auto address = e.find("address");
    if (address == e.end() || !address->is_string()) return bad_prev(at + ".address", "missing");
    out.address = *address;
    if (const auto gw = e.find("gateway"); gw != e.end() && gw->is_string()) out.gateway = *gw;
    return out;
  }
  return bad_prev("ips", "no address for interface " + std::to_string(*index));
}

}  // namespace keymesh::cni
