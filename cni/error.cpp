#include "cni/error.h"

#include <nlohmann/json.hpp>

namespace keymesh::cni {

std::string error_json(std::string_view cni_version, const CniError& error) {
  nlohmann::ordered_json doc;
  doc["cniVersion"] = cni_version;
  doc["code"] = static_cast<int>(error.code);
  doc["msg"] = error.msg;
  if (!error.details.empty()) doc["details"] = error.details;
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace keymesh::cni
