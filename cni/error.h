// CNI errors: the well-known codes of the CNI specification plus keymesh's own (100+), and
// the error object a plugin prints on stdout when it fails. Every handler returns
// std::expected<T, CniError>; the dispatcher turns a CniError into the JSON and exit status.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace keymesh::cni {

enum class Code : int {
  // From the specification ("Well-known Error Codes").
  kIncompatibleVersion = 1,   // cniVersion not one we support
  kUnsupportedField = 2,      // a field we understand but cannot honour
  kContainerUnknown = 3,      // the container does not exist (no cleanup needed)
  kInvalidEnvironment = 4,    // a CNI_* variable is missing or malformed
  kIoFailure = 5,             // reading stdin failed
  kDecodeFailure = 6,         // stdin is not JSON
  kInvalidConfig = 7,         // a config field is missing or wrong
  kTryAgainLater = 11,        // keymeshd not ready or not reachable: the runtime may retry
  kPluginNotAvailable = 50,   // STATUS: keymeshd cannot serve new attachments
  // keymesh's own.
  kNetworkSetupFailed = 100,  // the kernel refused a veth/address/route/rule/sysctl change
  kDaemonRefused = 101,       // keymeshd answered the request with an error
  kCheckFailed = 102,         // CHECK found an attachment that is not as ADD left it
};

struct CniError {
  Code code;
  std::string msg;      // one line; for 4 and 7 it starts with the variable or field name
  std::string details;  // optional longer text (e.g. the daemon's or the kernel's words)
};

template <class T>
using CniResult = std::expected<T, CniError>;

inline std::unexpected<CniError> cni_fail(Code code, std::string msg, std::string details = {}) {
  return std::unexpected<CniError>(CniError{code, std::move(msg), std::move(details)});
}

// {"cniVersion":..,"code":..,"msg":..,"details":..} ("details" omitted when empty).
std::string error_json(std::string_view cni_version, const CniError& error);

}  // namespace keymesh::cni
