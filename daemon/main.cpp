// keymeshd: the keymesh daemon. `keymeshd --config FILE` runs in the foreground until
// SIGINT/SIGTERM; `--check` validates the configuration and exits.
#include <sodium.h>

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "common/log.h"
#include "crypto/aead.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

namespace {

// The data-path AEAD: the faster of libsodium and OpenSSL per size class, measured now
// (crypto/aead.h). KEYMESH_AEAD=libsodium|openssl pins one, for benchmarks.
void choose_aead() {
  using namespace keymesh::crypto;
  const AeadTiming timing = measure_aead();
  AeadChoice choice = fastest(timing);
  const char* pinned = std::getenv("KEYMESH_AEAD");
  if (pinned != nullptr && timing.openssl_available &&
      (std::string_view(pinned) == "openssl" || std::string_view(pinned) == "libsodium")) {
    const AeadImpl impl =
        std::string_view(pinned) == "openssl" ? AeadImpl::OpenSsl : AeadImpl::Libsodium;
    choice = {impl, impl};
  }
  use_aead(choice);
  spdlog::info("{}{}", describe(choice, timing), pinned != nullptr ? " (KEYMESH_AEAD)" : "");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"keymeshd: zero-trust overlay network daemon"};
    std::string config_path = "/etc/keymesh/config.yaml";
    bool check_only = false;
    app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
    app.add_flag("--check", check_only, "validate the configuration and exit");
    app.set_version_flag("--version", "keymeshd 0.1.0");
    CLI11_PARSE(app, argc, argv);

    if (sodium_init() < 0) {
      std::fprintf(stderr, "keymeshd: libsodium failed to initialise\n");
      return 1;
    }
    auto config = keymesh::daemon::load_config(config_path);
    if (!config) {
      // load_config's messages already start with the file's path.
      std::fprintf(stderr, "keymeshd: %s\n", config.error().message.c_str());
      return 1;
    }
    if (check_only) {
      std::printf("%s: ok\n", config_path.c_str());
      return 0;
    }
    keymesh::setup_logging(config->log_level);
    choose_aead();
    auto daemon = keymesh::daemon::Daemon::create(std::move(*config));
    if (!daemon) {
      std::fprintf(stderr, "keymeshd: %s\n", daemon.error().message.c_str());
      return 1;
    }
    return (*daemon)->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keymeshd: fatal: %s\n", e.what());
    return 1;
  }
}
