// keymesh: the command-line tool for keymeshd (status) and for keys. Subcommands live in one
// file per group; see commands.h.
#include <iostream>

#include "tools/commands.h"

int main(int argc, char** argv) {
  // The one place exceptions are caught (docs/style.md habit 7): CLI11 and the standard library
  // may throw; commands themselves return errors.
  try {
    CLI::App app{"Manage keymesh keys, certificates and query keymeshd", "keymesh"};
    app.require_subcommand(1);
    keymesh::tools::Outcome outcome;
    keymesh::tools::add_key_commands(app, outcome);
    keymesh::tools::add_status_command(app, outcome);
    keymesh::tools::add_ca_commands(app, outcome);
    keymesh::tools::add_cert_commands(app, outcome);
    int exit_status = 0;  // commands with their own exit codes (policy check) set it
    keymesh::tools::add_policy_commands(app, outcome, exit_status);
    keymesh::tools::add_audit_commands(app, outcome);
    keymesh::tools::add_identity_commands(app, outcome);
    keymesh::tools::add_user_commands(app, outcome);
    keymesh::tools::add_access_commands(app, outcome);
    CLI11_PARSE(app, argc, argv);
    if (!outcome) {
      std::cerr << "keymesh: " << outcome.error().message << "\n";
      return exit_status != 0 ? exit_status : 1;
    }
    return exit_status;
  } catch (const std::exception& e) {
    std::cerr << "keymesh: " << e.what() << "\n";
    return 1;
  }
}
