// Identity -> policy glue: the Subject for a certificate. policy/ does not depend on
// identity/ (policy/rule.h), so the conversion lives here, free of the daemon and the CLI, for
// `keymesh policy check` now and for keymeshd's control socket later.
#pragma once

#include "identity/certificate.h"
#include "identity/chain.h"
#include "policy/rule.h"

namespace keymesh::policy {

// From a leaf validated by TrustStore::validate: name, kind, groups, labels, networks, the
// leaf's fingerprint (64 hex digits), the signing CA (name and fingerprint) and the context
// labels the CAs of its chain assert (docs/identity.md, "Context labels").
Subject subject_from(const identity::ValidatedIdentity& identity);

// The same facts read from a certificate that was not validated (`policy check` without
// --ca): no context and no issuer name (both need the chain), the issuer's fingerprint as the
// leaf names it. The caller makes sure it is not a CA certificate.
Subject subject_from(const identity::Certificate& leaf);

}  // namespace keymesh::policy
