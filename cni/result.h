// CNI results: the JSON an ADD prints (and the runtime later hands back as "prevResult"),
// for CNI 1.0.0 and 1.1.0. When keymesh-cni is not first in a chain, its interfaces, IPs and
// routes are appended to the prevResult it was given (indices shifted), so nothing an
// earlier plugin reported is lost; portmap and bandwidth after it read the IP from "ips".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cni/error.h"

namespace keymesh::cni {

struct ResultInterface {
  std::string name;
  std::string mac;      // "aa:bb:cc:dd:ee:ff"
  std::string sandbox;  // netns path; "" for a host interface
  int mtu = 0;          // printed for 1.1.0 only; 0: omitted
};

struct ResultIp {
  std::string address;  // CIDR, e.g. "100.64.7.2/32"
  std::string gateway;  // "" when none
  int interface = -1;   // index into our own interfaces (shifted when appended)
};

struct ResultRoute {
  std::string dst;  // "0.0.0.0/0"
  std::string gw;   // "" when none
};

struct AttachResult {
  std::vector<ResultInterface> interfaces;
  std::vector<ResultIp> ips;
  std::vector<ResultRoute> routes;
  nlohmann::json dns;  // object or null (then "dns" is omitted)
};

// The result document for `version`; `prev` (an object) is kept and extended when given.
nlohmann::ordered_json result_document(std::string_view version, const AttachResult& ours,
                                       const std::optional<nlohmann::json>& prev);
// Serialized, with invalid UTF-8 (which no runtime sends, but env vars may hold) replaced.
std::string dump_json(const nlohmann::ordered_json& doc);

// What a prevResult says about the attachment keymesh-cni made for (netns, ifname):
// the container interface's address and gateway. CHECK compares the live state with it.
struct ExpectedAttachment {
  std::string address;  // CIDR as printed by ADD
  std::string gateway;
  std::string mac;      // container side, "" if the result had none
};

// Code 7 naming the field when prevResult lacks the interface or its IP.
CniResult<ExpectedAttachment> find_attachment(const nlohmann::json& prev, std::string_view netns,
                                              std::string_view ifname);

}  // namespace keymesh::cni
