#include "policy/subject_of.h"

namespace keymesh::policy {

Subject subject_from(const identity::ValidatedIdentity& identity) {
  Subject s;
  s.name = identity.name;
  s.kind = std::string(identity::kind_name(identity.kind));
  s.groups = identity.groups;
  s.labels = identity.labels;
  s.networks = identity.networks;
  s.fingerprint = identity.fingerprint;
  s.context = identity.context;
  s.issuer = identity.issuer_name;
  s.issuer_fingerprint = identity.issuer_fingerprint;
  s.user_subject = identity.subject;
  return s;
}

Subject subject_from(const identity::Certificate& leaf) {
  const auto& f = leaf.fields();
  Subject s;
  s.name = f.name;
  s.kind = std::string(identity::kind_name(f.kind));
  s.groups = f.groups;
  s.labels = f.labels;
  s.networks = f.networks;
  s.fingerprint = leaf.fingerprint_hex();
  if (f.issuer) s.issuer_fingerprint = to_hex(*f.issuer);
  s.user_subject = f.subject;
  return s;
}

}  // namespace keymesh::policy
