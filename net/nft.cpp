#include "net/nft.h"

#include <nftables/libnftables.h>

#include <chrono>
#include <thread>

namespace keymesh::net {

namespace {

constexpr int kAttempts = 10;

struct Context {
  nft_ctx* p = nft_ctx_new(NFT_CTX_DEFAULT);
  ~Context() {
    if (p) nft_ctx_free(p);
  }
};

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<std::string> run(const std::string& script, bool json);

}  // namespace

Result<std::string> nft_output(const std::string& script) { return run(script, false); }
Result<std::string> nft_json(const std::string& script) { return run(script, true); }

namespace {
Result<std::string> run(const std::string& script, bool json) {
  std::string last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // CNI ADDs run in parallel; each writes its own objects, but two transactions that
    // start from the same generation make the second fail. A fresh context starts over.
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2 + 3 * attempt));
    Context ctx;
    if (ctx.p == nullptr) return fail("nftables: cannot create a context");
    if (json) nft_ctx_output_set_flags(ctx.p, NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx.p);
    nft_ctx_buffer_error(ctx.p);
    // Each get_*_buffer call hands over what was written so far and empties the buffer.
    const bool ok = nft_run_cmd_from_buffer(ctx.p, script.c_str()) == 0;
    const char* output = nft_ctx_get_output_buffer(ctx.p);
    if (ok) return std::string(output ? output : "");
    last = trimmed(nft_ctx_get_error_buffer(ctx.p));
  }
  return fail("nftables: " + (last.empty() ? std::string("the command failed") : last));
}
}  // namespace

Result<void> run_nft(const std::string& script) {
  if (auto r = nft_output(script); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace keymesh::net
