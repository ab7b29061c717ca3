// nftables through libnftables: one script per call, run as one transaction (all of it
// applies or none does). keymesh-cni's edge filter (plumbing/edge_filter.h) and keymeshd's
// masquerade (daemon/masquerade.h) use it. Control path only; the calling thread's network
// namespace is the one changed.
#pragma once

#include <string>

#include "common/result.h"

namespace keymesh::net {

// Runs `script`; the error is nft's own text. A transaction that lost a race with another
// writer (generation changed under it) is tried again, up to ten times.
Result<void> run_nft(const std::string& script);

// As run_nft, and returns what nft printed (for `list` commands).
Result<std::string> nft_output(const std::string& script);
// As nft_output, in nft's JSON form (`nft -j`).
Result<std::string> nft_json(const std::string& script);

}  // namespace keymesh::net
