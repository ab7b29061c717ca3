#include "identity/error.h"

namespace keymesh::identity {

std::string_view to_string(CertError e) noexcept {
  switch (e) {
    case CertError::Malformed: return "malformed";
    case CertError::ChainTooLong: return "chain_too_long";
    case CertError::IssuerMismatch: return "issuer_mismatch";
    case CertError::UnknownRoot: return "unknown_root";
    case CertError::NotSignedByCa: return "not_signed_by_ca";
    case CertError::CaSigningNotAllowed: return "ca_signing_not_allowed";
    case CertError::ForgedSignature: return "forged_signature";
    case CertError::NotYetValid: return "not_yet_valid";
    case CertError::Expired: return "expired";
    case CertError::NetworkOutsideConstraint: return "network_outside_constraint";
    case CertError::NameOutsidePattern: return "name_outside_pattern";
    case CertError::LifetimeExceedsIssuer: return "lifetime_exceeds_issuer";
    case CertError::Revoked: return "revoked";
    case CertError::NotAnIdentity: return "not_an_identity";
    case CertError::KeyMismatch: return "key_mismatch";
    case CertError::BadRevocationList: return "bad_revocation_list";
    case CertError::StaleRevocationList: return "stale_revocation_list";
    case CertError::GroupOutsideConstraint: return "group_outside_constraint";
    case CertError::LabelOutsideConstraint: return "label_outside_constraint";
    case CertError::KindOutsideConstraint: return "kind_outside_constraint";
    case CertError::ContextConflict: return "context_conflict";
    case CertError::NodeBindingViolated: return "node_binding_violated";
    case CertError::SubjectOutsidePattern: return "subject_outside_pattern";
  }
  return "unknown";
}

}  // namespace keymesh::identity
