// A node CA is for one node (issue 15, section 1; docs/identity.md, "One node CA, one node").
// A node CA certificate may name the node it is for (CaConstraints::node, set by
// `keymesh cert sign --kind ca --node NAME`). keymeshd checks at start, before it mints
// anything, that the node CA it was given is bound to no node or to this one: the name of this
// host's own certificate. Two hosts handed the same bound node CA thus cannot both mint; the
// second one stops with an error that names the CA, the node it is bound to and this host.
#pragma once

#include <span>

#include "common/result.h"
#include "identity/certificate.h"

namespace keymesh::node {

// `node_ca_chain`: the node CA first, then its issuers (NodeCa::chain()). `host`: the leaf of
// this host's certificate chain (config `certificate:`), nullptr when none is configured.
// Every CA on the chain that is bound to a node must be bound to `host`'s name, and `host`
// must then be a node certificate.
Result<void> check_node_binding(std::span<const identity::Certificate> node_ca_chain,
                                const identity::Certificate* host);

}  // namespace keymesh::node
