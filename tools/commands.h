// The keymesh CLI's command groups. Each add_* function registers its subcommands on `app`;
// the one that runs stores its outcome in `outcome`, and main() prints an error as
// "keymesh: <message>" and exits 1, or with the command's own exit status when it sets one.
// Commands return errors rather than throwing.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "control.pb.h"

namespace keymesh::tools {

using Outcome = Result<void>;

// key gen, key pub
void add_key_commands(CLI::App& app, Outcome& outcome);
// status
void add_status_command(CLI::App& app, Outcome& outcome);
// ca init, crl sign (ca_commands.cpp)
void add_ca_commands(CLI::App& app, Outcome& outcome);
// cert sign, cert show, cert verify (cert_commands.cpp)
void add_cert_commands(CLI::App& app, Outcome& outcome);
// policy check (policy_commands.cpp). Sets `exit_status`: 0 allow, 1 deny, 2 for an error
// (main() still prints the error).
void add_policy_commands(CLI::App& app, Outcome& outcome, int& exit_status);
// audit tail (audit_commands.cpp)
void add_audit_commands(CLI::App& app, Outcome& outcome);
// A control-socket reply as JSON on stdout (field names as in control.proto; status_command.cpp).
Result<void> print_json(const google::protobuf::Message& message);
// identity add|remove|list (control socket)
void add_identity_commands(CLI::App& app, Outcome& outcome);
// user issue (user_commands.cpp), access export --wg-quick (access_commands.cpp): people
void add_user_commands(CLI::App& app, Outcome& outcome);
void add_access_commands(CLI::App& app, Outcome& outcome);

// `wg show`-style text for a status reply; `now_unix` turns handshake times into "ago".
std::string format_status(const proto::StatusReply& status, bool all_drops, std::int64_t now_unix);

}  // namespace keymesh::tools
