// The workload identity a CNI attachment asks keymeshd for: a name (and groups and label
// values) built from a template in the network config.
//
// Template syntax: common/template.h (${NAME}, ${NAME:-fallback}, $$). Variables: every
// CNI_ARGS key (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, ...), CONTAINER_ID,
// CONTAINER_ID_SHORT (first 12 characters), IFNAME, NETWORK (the config's "name") and HOSTNAME.
//
// Default identity (no "identity" key): "${K8S_POD_NAMESPACE}.${K8S_POD_NAME}" when both are
// in CNI_ARGS (Kubernetes), "${K8S_POD_NAME}" when only the name is (podman passes the
// container name there), else "ctr-${CONTAINER_ID_SHORT}".
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "cni/config.h"
#include "cni/environment.h"
#include "cni/error.h"
#include "common/template.h"

namespace keymesh::cni {

using keymesh::TemplateVars;

// "" when `text` is a well-formed template, else what is wrong with it.
std::string template_problem(std::string_view text);

// Expands `text`; the error says which variable is missing (code 7, msg "FIELD: ...").
CniResult<std::string> expand_template(std::string_view text, const TemplateVars& vars,
                                       std::string_view field);

// The variables above for one call. `hostname` is passed in so tests are deterministic.
TemplateVars template_vars(const Environment& env, const NetConf& conf, std::string_view hostname);

struct WorkloadIdentity {
  std::string name;
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
};

// Expands the config's identity (or the default), groups and labels. An identity name must
// be 1-253 bytes without whitespace or control characters.
CniResult<WorkloadIdentity> workload_identity(const Environment& env, const NetConf& conf,
                                              std::string_view hostname);

}  // namespace keymesh::cni
