#include "docker/docker_driver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/template.h"
#include "docker/docker_messages.h"

namespace keymesh::docker {

namespace {

using nlohmann::json;

// Our own choices, shared with keymesh-cni (plumbing/attach.h): every container routes via this
// link-local next hop, which the host veth answers by proxy ARP.
constexpr std::string_view kGatewayCidr = "169.254.1.1/32";
constexpr std::string_view kAnyPool = "0.0.0.0/0";
constexpr std::string_view kOptionPrefix = "keymesh.";
constexpr std::string_view kLabelPrefix = "keymesh.label.";
constexpr int kRouteConnected = 1;  // libnetwork's types.CONNECTED: no next hop

std::string dump(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string short_id(std::string_view id) { return std::string(id.substr(0, 12)); }

// A member of a record we stored; a damaged one reads as empty rather than throwing.
std::string text_of(const json& doc, const char* key) {
  const auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

// What `docker network create -o` and `--driver-opt` may say about identities. The same
// keys at both levels: an endpoint's keymesh.identity replaces the network's, its groups are
// added, its labels win.
struct IdentityOptions {
  std::optional<std::string> identity;         // template
  std::vector<std::string> groups;             // templates
  std::map<std::string, std::string> labels;   // key -> template
};

namespace {

Result<IdentityOptions> identity_options(const docker::StringOptions& options,
                                         std::string_view flag) {
  IdentityOptions out;
  for (const auto& [key, value] : options) {
    if (!std::string_view(key).starts_with(kOptionPrefix)) continue;  // dockerd's, or others'
    const std::string where = std::string(flag) + " " + key;
    auto check = [&](const std::string& t) -> Result<void> {
      if (auto problem = template_problem(t); !problem.empty()) return fail(where + ": " + problem);
      return {};
    };
    if (key == "keymesh.identity") {
      if (auto r = check(value); !r) return std::unexpected(r.error());
      out.identity = value;
    } else if (key == "keymesh.groups") {
      for (auto& g : split_list(value)) {
        if (auto r = check(g); !r) return std::unexpected(r.error());
        out.groups.push_back(std::move(g));
      }
    } else if (std::string_view(key).starts_with(kLabelPrefix) && key.size() > kLabelPrefix.size()) {
      if (auto r = check(value); !r) return std::unexpected(r.error());
      out.labels[key.substr(kLabelPrefix.size())] = value;
    } else {
      return fail(where + ": unknown option (keymesh knows keymesh.identity, keymesh.groups "
                          "and keymesh.label.KEY)");
    }
  }
  return out;
}

json options_to_json(const IdentityOptions& o) {
  json doc = {{"groups", o.groups}, {"labels", o.labels}};
  if (o.identity) doc["identity"] = *o.identity;
  return doc;
}

IdentityOptions options_from_json(const json& doc) {
  IdentityOptions o;
  if (const auto it = doc.find("identity"); it != doc.end() && it->is_string())
    o.identity = it->get<std::string>();
  if (const auto it = doc.find("groups"); it != doc.end() && it->is_array())
    for (const auto& g : *it)
      if (g.is_string()) o.groups.push_back(g.get<std::string>());
  if (const auto it = doc.find("labels"); it != doc.end() && it->is_object())
    for (auto l = it->begin(); l != it->end(); ++l)
      if (l->is_string()) o.labels[l.key()] = l->get<std::string>();
  return o;
}

}  // namespace

struct DockerDriver::Network {
  IdentityOptions options;
  std::string pool;  // what RequestPool handed out, for diagnostics
};

struct DockerDriver::Endpoint {
  std::string network_id;
  std::string address;  // "100.64.1.5"
  std::string identity;
  std::string host_ifname;
  std::string peer_ifname;
  std::string sandbox;  // Join's SandboxKey ("" until joined)
  bool joined = false;
};

DockerDriver::DockerDriver(node::WorkloadStore& store, DockerHooks& hooks)
    : store_(store), hooks_(hooks) {}

std::string DockerDriver::pool_id() const {
  return "keymesh:" + store_.ipam().pool().network().to_string();
}

// ------------------------------------------------------------------ persistence

Result<std::optional<DockerDriver::Network>> DockerDriver::load_network(const std::string& id) const {
  auto raw = store_.state().get_kv(std::string(kNetworkNamespace), id);
  if (!raw) return std::unexpected(raw.error());
  if (!*raw) return std::optional<Network>{};
  const json doc = json::parse(**raw, nullptr, false);
  if (!doc.is_object()) return fail("stored network " + short_id(id) + " is damaged");
  Network n;
  n.options = options_from_json(doc);
  n.pool = text_of(doc, "pool");
  return std::optional<Network>(std::move(n));
}

Result<std::optional<DockerDriver::Endpoint>> DockerDriver::load_endpoint(
    const std::string& id) const {
  auto raw = store_.state().get_kv(std::string(kEndpointNamespace), id);
  if (!raw) return std::unexpected(raw.error());
  if (!*raw) return std::optional<Endpoint>{};
  const json doc = json::parse(**raw, nullptr, false);
  if (!doc.is_object()) return fail("stored endpoint " + short_id(id) + " is damaged");
  Endpoint e;
  e.network_id = text_of(doc, "network");
  e.address = text_of(doc, "address");
  e.identity = text_of(doc, "identity");
  e.host_ifname = text_of(doc, "host_ifname");
  e.peer_ifname = text_of(doc, "peer_ifname");
  e.sandbox = text_of(doc, "sandbox");
  const auto joined = doc.find("joined");
  e.joined = joined != doc.end() && joined->is_boolean() && joined->get<bool>();
  return std::optional<Endpoint>(std::move(e));
}

Result<void> DockerDriver::save_endpoint(const std::string& id, const Endpoint& e) {
  const json doc = {{"network", e.network_id},     {"address", e.address},
                    {"identity", e.identity},      {"host_ifname", e.host_ifname},
                    {"peer_ifname", e.peer_ifname}, {"sandbox", e.sandbox},
                    {"joined", e.joined}};
  return store_.state().put_kv(std::string(kEndpointNamespace), id, dump(doc));
}

Result<void> DockerDriver::restore() {
  if (auto r = hooks_.route_into_tun(); !r) return fail("docker: " + r.error().message);
  auto networks = store_.state().list_kv(std::string(kNetworkNamespace));
  if (!networks) return std::unexpected(networks.error());
  auto endpoints = store_.state().list_kv(std::string(kEndpointNamespace));
  if (!endpoints) return std::unexpected(endpoints.error());
  for (const auto& [id, _] : *endpoints)
    if (store_.find(id, std::string(kDockerIfname)) == nullptr)
      spdlog::warn("docker: endpoint {} has no workload in the node state; its container has "
                   "no identity until Docker removes the endpoint", short_id(id));
  spdlog::info("docker: {} network(s), {} endpoint(s) restored", networks->size(),
               endpoints->size());
  return {};
}

// ------------------------------------------------------------------ dispatch

docker::HttpReply DockerDriver::handle(std::string_view path, std::string_view body) {
  using Handler = Reply (DockerDriver::*)(std::string_view);
  static constexpr std::pair<std::string_view, Handler> kRoutes[] = {
      {"/Plugin.Activate", &DockerDriver::activate},
      {"/NetworkDriver.GetCapabilities", &DockerDriver::capabilities},
      {"/NetworkDriver.CreateNetwork", &DockerDriver::create_network},
      {"/NetworkDriver.DeleteNetwork", &DockerDriver::delete_network},
      {"/NetworkDriver.CreateEndpoint", &DockerDriver::create_endpoint},
      {"/NetworkDriver.EndpointOperInfo", &DockerDriver::endpoint_info},
      {"/NetworkDriver.DeleteEndpoint", &DockerDriver::delete_endpoint},
      {"/NetworkDriver.Join", &DockerDriver::join},
      {"/NetworkDriver.Leave", &DockerDriver::leave},
      {"/NetworkDriver.DiscoverNew", &DockerDriver::acknowledge},
      {"/NetworkDriver.DiscoverDelete", &DockerDriver::acknowledge},
      {"/NetworkDriver.ProgramExternalConnectivity", &DockerDriver::acknowledge},
      {"/NetworkDriver.RevokeExternalConnectivity", &DockerDriver::acknowledge},
      {"/IpamDriver.GetCapabilities", &DockerDriver::ipam_capabilities},
      {"/IpamDriver.GetDefaultAddressSpaces", &DockerDriver::address_spaces},
      {"/IpamDriver.RequestPool", &DockerDriver::request_pool},
      {"/IpamDriver.ReleasePool", &DockerDriver::release_pool},
      {"/IpamDriver.RequestAddress", &DockerDriver::request_address},
      {"/IpamDriver.ReleaseAddress", &DockerDriver::release_address},
  };
  for (const auto& [route, handler] : kRoutes) {
    if (route != path) continue;
    Reply reply = (this->*handler)(body);
    if (reply) return docker::HttpReply{200, std::move(*reply)};
    spdlog::warn("docker: {} refused: {}", path.substr(1), reply.error().message);
    return docker::HttpReply{reply.error().status, docker::error_body("keymesh: " + reply.error().message)};
  }
  return docker::HttpReply{404, docker::error_body("keymesh: unknown plugin method " +
                                             std::string(path.substr(0, 200)))};
}

namespace {
std::unexpected<DockerDriver::Failure> malformed(const Error& e) {
  return std::unexpected(DockerDriver::Failure{400, e.message});
}
std::unexpected<DockerDriver::Failure> refuse(std::string message) {
  return std::unexpected(DockerDriver::Failure{500, std::move(message)});
}
}  // namespace

// ------------------------------------------------------------------ handshake

DockerDriver::Reply DockerDriver::activate(std::string_view body) {
  if (auto r = docker::parse_empty(body); !r) return malformed(r.error());
  return dump({{"Implements", {"NetworkDriver", "IpamDriver"}}});
}

DockerDriver::Reply DockerDriver::capabilities(std::string_view body) {
  if (auto r = docker::parse_empty(body); !r) return malformed(r.error());
  return dump({{"Scope", "local"}, {"ConnectivityScope", "local"}});
}

DockerDriver::Reply DockerDriver::acknowledge(std::string_view body) {
  if (auto r = docker::parse_empty(body); !r) return malformed(r.error());
  return std::string("{}");
}

// ------------------------------------------------------------------ IPAM

DockerDriver::Reply DockerDriver::ipam_capabilities(std::string_view body) {
  if (auto r = docker::parse_empty(body); !r) return malformed(r.error());
  // No replay: pools and addresses are kept in the node state across restarts.
  return dump({{"RequiresMACAddress", false}, {"RequiresRequestReplay", false}});
}

DockerDriver::Reply DockerDriver::address_spaces(std::string_view body) {
  if (auto r = docker::parse_empty(body); !r) return malformed(r.error());
  return dump({{"LocalDefaultAddressSpace", kLocalAddressSpace},
               {"GlobalDefaultAddressSpace", kGlobalAddressSpace}});
}

DockerDriver::Reply DockerDriver::request_pool(std::string_view body) {
  auto req = docker::parse_request_pool(body);
  if (!req) return malformed(req.error());
  const IpPrefix pool = store_.ipam().pool().network();
  if (req->v6) return refuse("IPv6 pools are not supported: workload addresses are IPv4");
  if (!req->sub_pool.empty())
    return refuse("--ip-range is not supported: addresses come from the node's pool " +
                  pool.to_string());
  if (!req->pool.empty()) {
    const auto asked = IpPrefix::parse(req->pool);
    if (!asked || asked->network() != pool)
      return refuse("--subnet " + req->pool + " is not this node's pool " + pool.to_string() +
                    " (the node CA's range); leave --subnet out, or give exactly that");
  }
  for (const auto& [key, _] : req->options)
    if (std::string_view(key).starts_with(kOptionPrefix))
      return refuse("--ipam-opt " + key + ": unknown option (keymesh's IPAM has none)");
  // Without --subnet, dockerd asks again and again for a pool until it gets one that
  // overlaps no route of the host, and km0's routes cover the node's pool: 0.0.0.0/0 is the
  // value libnetwork exempts from that check (as Calico's IPAM does). The gateway in Data
  // keeps dockerd from asking for one from the pool.
  return dump({{"PoolID", pool_id()},
               {"Pool", req->pool.empty() ? std::string(kAnyPool) : pool.to_string()},
               {"Data", {{"com.docker.network.gateway", kGatewayCidr}}}});
}

DockerDriver::Reply DockerDriver::release_pool(std::string_view body) {
  if (auto r = docker::parse_release_pool(body); !r) return malformed(r.error());
  return std::string("{}");  // the node's pool is shared by every network: nothing to free
}

DockerDriver::Reply DockerDriver::request_address(std::string_view body) {
  auto req = docker::parse_request_address(body);
  if (!req) return malformed(req.error());
  if (req->pool_id != pool_id())
    return refuse("pool " + req->pool_id + " is not this node's (" + pool_id() +
                  "); was the node CA's range changed? Re-create the network");
  const auto type = req->options.find("RequestAddressType");
  if (type != req->options.end() && type->second == "com.docker.network.gateway") {
    if (!req->address.empty() && req->address != kGatewayCidr.substr(0, kGatewayCidr.find('/')))
      return refuse("--gateway is not supported: containers route via 169.254.1.1");
    return dump({{"Address", kGatewayCidr}, {"Data", json::object()}});
  }
  std::optional<IpAddress> wanted;
  if (!req->address.empty()) {
    wanted = IpAddress::parse(req->address);
    if (!wanted || wanted->family != AF_INET)
      return refuse("--ip " + req->address + " is not an IPv4 address");
  }
  auto address = store_.reserve(wanted, "docker " + pool_id());
  if (!address) return refuse(address.error().message);
  spdlog::info("docker: address {} reserved", address->to_string());
  return dump({{"Address", address->to_string() + "/32"}, {"Data", json::object()}});
}

DockerDriver::Reply DockerDriver::release_address(std::string_view body) {
  auto req = docker::parse_release_address(body);
  if (!req) return malformed(req.error());
  const auto address = IpAddress::parse(req->address);
  if (!address) return refuse("Address: " + req->address + " is not an IP address");
  // A workload still holding it means its DeleteEndpoint has not come: leave it alone.
  auto released = store_.unreserve(*address);
  if (!released) return refuse(released.error().message);
  if (*released) spdlog::info("docker: address {} released", address->to_string());
  return std::string("{}");
}

// ------------------------------------------------------------------ networks

DockerDriver::Reply DockerDriver::create_network(std::string_view body) {
  auto req = docker::parse_create_network(body);
  if (!req) return malformed(req.error());
  if (req->enable_ipv6 || !req->ipv6.empty())
    return refuse("IPv6 is not supported on keymesh networks (drop --ipv6)");
  if (req->ipv4.empty())
    return refuse("the network has no IPv4 pool; create it with --ipam-driver keymesh");
  const IpPrefix pool = store_.ipam().pool().network();
  for (const auto& d : req->ipv4) {
    if (d.address_space != kLocalAddressSpace && d.address_space != kGlobalAddressSpace)
      return refuse("addresses must come from keymesh's IPAM, not address space \"" +
                    d.address_space + "\": docker network create -d keymesh --ipam-driver keymesh");
    if (d.pool != kAnyPool)
      if (const auto p = IpPrefix::parse(d.pool); !p || p->network() != pool)
        return refuse("pool " + d.pool + " is not this node's pool " + pool.to_string());
  }
  auto options = identity_options(req->generic, "-o");
  if (!options) return refuse(options.error().message);
  json doc = options_to_json(*options);
  doc["pool"] = pool.to_string();
  if (auto r = store_.state().put_kv(std::string(kNetworkNamespace), req->network_id, dump(doc)); !r)
    return refuse(r.error().message);
  spdlog::info("docker: network {} created (identity {}, groups [{}])", short_id(req->network_id),
               options->identity.value_or(std::string(kDefaultIdentity)),
               fmt::join(options->groups, ","));
  return std::string("{}");
}

DockerDriver::Reply DockerDriver::delete_network(std::string_view body) {
  auto req = docker::parse_network_ref(body);
  if (!req) return malformed(req.error());
  // dockerd removes every endpoint first; one left here lost its DeleteEndpoint (a crash of
  // either side), so it goes now with everything it held.
  auto endpoints = store_.state().list_kv(std::string(kEndpointNamespace));
  if (!endpoints) return refuse(endpoints.error().message);
  for (const auto& [id, _] : *endpoints) {
    auto e = load_endpoint(id);
    if (!e) return refuse(e.error().message);
    if (*e && (*e)->network_id == req->network_id)
      if (auto r = remove_endpoint(id, **e, /*keep_address_for_docker=*/false); !r)
        return refuse(r.error().message);
  }
  auto removed = store_.state().del_kv(std::string(kNetworkNamespace), req->network_id);
  if (!removed) return refuse(removed.error().message);
  if (*removed) spdlog::info("docker: network {} deleted", short_id(req->network_id));
  return std::string("{}");
}

// ------------------------------------------------------------------ endpoints

DockerDriver::Reply DockerDriver::create_endpoint(std::string_view body) {
  auto req = docker::parse_create_endpoint(body);
  if (!req) return malformed(req.error());
  auto network = load_network(req->network_id);
  if (!network) return refuse(network.error().message);
  if (!*network)
    return refuse("network " + short_id(req->network_id) +
                  " is unknown to this keymeshd (was its state directory reset?); re-create "
                  "the network");
  if (!req->address_ipv6.empty()) return refuse("IPv6 addresses are not supported");
  const auto prefix = IpPrefix::parse(req->address);
  if (!prefix || prefix->address.family != AF_INET)
    return refuse("Interface.Address \"" + req->address +
                  "\" is not an IPv4 address from keymesh's IPAM (--ipam-driver keymesh)");
  const IpAddress address = prefix->address;

  if (auto existing = load_endpoint(req->endpoint_id); !existing) {
    return refuse(existing.error().message);
  } else if (*existing) {
    if ((*existing)->address == address.to_string()) return std::string("{}");  // a repeat
    return refuse("endpoint " + short_id(req->endpoint_id) + " already exists with address " +
                  (*existing)->address);
  }

  // The identity: the network's options, then the endpoint's --driver-opt.
  auto own = identity_options(req->options, "--driver-opt");
  if (!own) return refuse(own.error().message);
  const IdentityOptions& net = (*network)->options;
  TemplateVars vars{{"ENDPOINT_ID", req->endpoint_id},
                    {"ENDPOINT_ID_SHORT", short_id(req->endpoint_id)},
                    {"NETWORK_ID", req->network_id},
                    {"NETWORK_ID_SHORT", short_id(req->network_id)},
                    {"HOSTNAME", hooks_.hostname()}};
  const std::string tmpl =
      own->identity.value_or(net.identity.value_or(std::string(kDefaultIdentity)));
  node::WorkloadSpec spec{.container_id = req->endpoint_id,
                          .ifname = std::string(kDockerIfname),
                          .netns = "",
                          .front_door = std::string(node::kFrontDoorDocker),
                          .identity = {},
                          .groups = {},
                          .labels = {},
                          .address = address};
  const std::string unset = " (identity templates know ENDPOINT_ID, ENDPOINT_ID_SHORT, "
                            "NETWORK_ID, NETWORK_ID_SHORT and HOSTNAME)";
  auto name = expand_template(tmpl, vars, unset);
  if (!name) return refuse("keymesh.identity: " + name.error().message);
  if (auto problem = identity_name_problem(*name); !problem.empty())
    return refuse("keymesh.identity: " + problem + " (expanded from \"" + tmpl + "\")");
  spec.identity = std::move(*name);
  for (const std::vector<std::string>* list : {&net.groups, &std::as_const(own->groups)})
    for (const auto& g : *list) {
      auto group = expand_template(g, vars, unset);
      if (!group) return refuse("keymesh.groups: " + group.error().message);
      if (auto problem = identity_name_problem(*group); !problem.empty())
        return refuse("keymesh.groups: " + problem + " (expanded from \"" + g + "\")");
      if (std::find(spec.groups.begin(), spec.groups.end(), *group) == spec.groups.end())
        spec.groups.push_back(std::move(*group));
    }
  for (const std::map<std::string, std::string>* labels : {&net.labels, &std::as_const(own->labels)})
    for (const auto& [k, v] : *labels) {
      auto value = expand_template(v, vars, unset);
      if (!value) return refuse("keymesh.label." + k + ": " + value.error().message);
      spec.labels[k] = std::move(*value);
    }

  // Docker's reservation becomes the workload's address (and comes back if that fails).
  auto was_reserved = store_.unreserve(address);
  if (!was_reserved) return refuse(was_reserved.error().message);
  auto restore_reservation = [&] {
    if (*was_reserved)
      if (auto r = store_.reserve(address, "docker " + pool_id()); !r)
        spdlog::error("docker: could not reserve {} again: {}", address.to_string(),
                      r.error().message);
  };
  auto workload = hooks_.add_workload(spec);
  if (!workload) {
    restore_reservation();
    return refuse(workload.error().message);
  }
  const std::string host = plumbing::host_veth_name(req->endpoint_id, kDockerIfname);
  Endpoint e{.network_id = req->network_id,
             .address = address.to_string(),
             .identity = (*workload)->name(),
             .host_ifname = host,
             .peer_ifname = "kt" + host.substr(2),
             .sandbox = {},
             .joined = false};
  if (auto r = save_endpoint(req->endpoint_id, e); !r) {
    (void)hooks_.remove_workload(req->endpoint_id, std::string(kDockerIfname));
    restore_reservation();
    return refuse(r.error().message);
  }
  spdlog::info("docker: endpoint {} is \"{}\" at {} (groups [{}])", short_id(req->endpoint_id),
               e.identity, e.address, fmt::join(spec.groups, ","));
  return std::string("{}");
}

DockerDriver::Reply DockerDriver::endpoint_info(std::string_view body) {
  auto req = docker::parse_endpoint_ref(body);
  if (!req) return malformed(req.error());
  auto e = load_endpoint(req->endpoint_id);
  if (!e) return refuse(e.error().message);
  json value = json::object();
  if (*e) {
    value["keymesh.identity"] = (*e)->identity;
    value["keymesh.address"] = (*e)->address;
    value["keymesh.host_interface"] = (*e)->host_ifname;
    if (const node::Workload* w = store_.find(req->endpoint_id, std::string(kDockerIfname))) {
      std::string groups;
      for (const auto& g : w->groups()) groups += (groups.empty() ? "" : ",") + g;
      value["keymesh.groups"] = groups;
    }
  }
  return dump({{"Value", value}});
}

Result<void> DockerDriver::remove_endpoint(const std::string& endpoint_id, const Endpoint& e,
                                           bool keep_address_for_docker) {
  const std::string host = e.host_ifname.empty()
                               ? plumbing::host_veth_name(endpoint_id, kDockerIfname)
                               : e.host_ifname;
  if (auto r = hooks_.unplumb(host); !r) return r;
  auto existed = hooks_.remove_workload(endpoint_id, std::string(kDockerIfname));
  if (!existed) return std::unexpected(existed.error());
  // Docker still holds the address until its ReleaseAddress, which follows DeleteEndpoint.
  if (keep_address_for_docker && *existed)
    if (const auto a = IpAddress::parse(e.address))
      if (auto r = store_.reserve(*a, "docker " + pool_id()); !r)
        spdlog::warn("docker: {} freed early: {}", e.address, r.error().message);
  auto removed = store_.state().del_kv(std::string(kEndpointNamespace), endpoint_id);
  if (!removed) return std::unexpected(removed.error());
  if (*removed || *existed)
    spdlog::info("docker: endpoint {} (\"{}\", {}) removed", short_id(endpoint_id), e.identity,
               e.address);
  return {};
}

DockerDriver::Reply DockerDriver::delete_endpoint(std::string_view body) {
  auto req = docker::parse_endpoint_ref(body);
  if (!req) return malformed(req.error());
  auto e = load_endpoint(req->endpoint_id);
  if (!e) return refuse(e.error().message);
  // Unknown: already deleted (dockerd repeats deletes after restarts). The veth name follows
  // from the ID, so a leftover goes anyway.
  const Endpoint gone{.network_id = req->network_id};
  if (auto r = remove_endpoint(req->endpoint_id, *e ? **e : gone, true); !r)
    return refuse(r.error().message);
  return std::string("{}");
}

DockerDriver::Reply DockerDriver::join(std::string_view body) {
  auto req = docker::parse_join(body);
  if (!req) return malformed(req.error());
  auto e = load_endpoint(req->endpoint_id);
  if (!e) return refuse(e.error().message);
  if (!*e) return refuse("endpoint " + short_id(req->endpoint_id) + " is unknown (no CreateEndpoint)");
  const node::Workload* w = store_.find(req->endpoint_id, std::string(kDockerIfname));
  if (w == nullptr)
    return refuse("endpoint " + short_id(req->endpoint_id) +
                  " has no workload identity any more; remove and re-create the container");
  Endpoint& ep = **e;
  const DockerPlumbing plumbing{
      .host_ifname = ep.host_ifname,
      .peer_ifname = ep.peer_ifname,
      .address = w->address,
      .mtu = hooks_.mtu(),
      .tag = {std::string(node::kFrontDoorDocker), req->network_id, req->endpoint_id,
              std::string(kDockerIfname)}};
  // A container on two keymesh networks: its first interface already has the connected
  // route to the gateway, and dockerd fails the start when a second one collides with it.
  bool shares_sandbox = false;
  if (!req->sandbox_key.empty()) {
    auto all = store_.state().list_kv(std::string(kEndpointNamespace));
    if (!all) return refuse(all.error().message);
    for (const auto& [id, _] : *all) {
      if (id == req->endpoint_id) continue;
      auto other = load_endpoint(id);
      if (other && *other && (*other)->joined && (*other)->sandbox == req->sandbox_key)
        shares_sandbox = true;
    }
  }
  if (auto r = hooks_.plumb(plumbing); !r) return refuse(r.error().message);
  ep.joined = true;
  ep.sandbox = req->sandbox_key;
  if (auto r = save_endpoint(req->endpoint_id, ep); !r) {
    (void)hooks_.unplumb(ep.host_ifname);
    return refuse(r.error().message);
  }
  spdlog::info("docker: endpoint {} joined {} through {}", short_id(req->endpoint_id),
               req->sandbox_key, ep.host_ifname);
  const std::string gateway(kGatewayCidr.substr(0, kGatewayCidr.find('/')));
  json routes = json::array();
  if (!shares_sandbox)
    routes.push_back({{"Destination", kGatewayCidr}, {"RouteType", kRouteConnected}});
  return dump({{"InterfaceName", {{"SrcName", ep.peer_ifname}, {"DstPrefix", kDockerIfname}}},
               {"Gateway", gateway},
               {"StaticRoutes", routes},
               {"DisableGatewayService", false}});
}

DockerDriver::Reply DockerDriver::leave(std::string_view body) {
  auto req = docker::parse_endpoint_ref(body);
  if (!req) return malformed(req.error());
  auto e = load_endpoint(req->endpoint_id);
  if (!e) return refuse(e.error().message);
  const std::string host = *e ? (*e)->host_ifname
                              : plumbing::host_veth_name(req->endpoint_id, kDockerIfname);
  if (auto r = hooks_.unplumb(host); !r) return refuse(r.error().message);
  if (*e && (*e)->joined) {
    (*e)->joined = false;
    (*e)->sandbox.clear();
    if (auto r = save_endpoint(req->endpoint_id, **e); !r) return refuse(r.error().message);
  }
  spdlog::info("docker: endpoint {} left ({} removed)", short_id(req->endpoint_id), host);
  return std::string("{}");
}

}  // namespace keymesh::docker
