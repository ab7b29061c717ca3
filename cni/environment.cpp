#include "cni/environment.h"

#include <cctype>

namespace keymesh::cni {

namespace {

// Quotes text for an error message, cutting it short and showing control bytes as '?'.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : char(c);
  }
  if (text.size() > 80) out += "...";
  return out + "\"";
}

CniResult<std::string> required(const EnvLookup& lookup, std::string_view name,
                                std::string_view command) {
  auto value = lookup(name);
  if (!value || value->empty())
    return cni_fail(Code::kInvalidEnvironment,
                    std::string(name) + ": required for " + std::string(command) + " but " +
                        (value ? "empty" : "not set"));
  return *value;
}

}  // namespace

std::string_view command_name(Command command) {
  switch (command) {
    case Command::kAdd: return "ADD";
    case Command::kDel: return "DEL";
    case Command::kCheck: return "CHECK";
    case Command::kGc: return "GC";
    case Command::kStatus: return "STATUS";
    case Command::kVersion: return "VERSION";
  }
  return "?";
}

std::expected<std::map<std::string, std::string>, std::string> parse_cni_args(
    std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto semi = text.find(';');
    const std::string_view pair = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      return std::unexpected("segment " + quoted(pair) + " is not KEY=VALUE");
    if (eq == 0) return std::unexpected("segment " + quoted(pair) + " has an empty key");
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  return out;
}

std::string container_id_problem(std::string_view id) {
  // "Must start with an alphanumeric character, optionally followed by any combination of
  // one or more alphanumeric characters, underscore (_), dot (.) or hyphen (-)."
  if (id.empty()) return "must not be empty";
  if (!std::isalnum(static_cast<unsigned char>(id[0])))
    return "must start with a letter or digit, got " + quoted(id);
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return "may hold only letters, digits, '_', '.' and '-', got " + quoted(id);
  }
  return {};
}

std::string ifname_problem(std::string_view name) {
  // Linux interface names: 1-15 bytes, not "." or "..", no '/', ':' or whitespace.
  if (name.empty() || name.size() > 15)
    return "must be 1-15 characters, got " + std::to_string(name.size());
  if (name == "." || name == "..") return "must not be \".\" or \"..\"";
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(u) || u < 0x20 || u == 0x7f)
      return "must not contain '/', ':', whitespace or control characters, got " + quoted(name);
  }
  return {};
}

CniResult<Environment> parse_environment(const EnvLookup& lookup) {
  Environment env;
  const auto command = lookup("CNI_COMMAND");
  if (!command || command->empty())
    return cni_fail(Code::kInvalidEnvironment, "CNI_COMMAND: not set");
  if (*command == "ADD") env.command = Command::kAdd;
  else if (*command == "DEL") env.command = Command::kDel;
  else if (*command == "CHECK") env.command = Command::kCheck;
  else if (*command == "GC") env.command = Command::kGc;
  else if (*command == "STATUS") env.command = Command::kStatus;
  else if (*command == "VERSION") env.command = Command::kVersion;
  else
    return cni_fail(Code::kInvalidEnvironment,
                    "CNI_COMMAND: unknown command " + quoted(*command) +
                        " (expected ADD, DEL, CHECK, GC, STATUS or VERSION)");
  env.path = lookup("CNI_PATH").value_or("");
  if (const auto args = lookup("CNI_ARGS")) {
    auto parsed = parse_cni_args(*args);
    if (!parsed) return cni_fail(Code::kInvalidEnvironment, "CNI_ARGS: " + parsed.error());
    env.args = std::move(*parsed);
  }

  const bool attachment = env.command == Command::kAdd || env.command == Command::kDel ||
                          env.command == Command::kCheck;
  if (!attachment) return env;
  const std::string_view name = command_name(env.command);

  auto id = required(lookup, "CNI_CONTAINERID", name);
  if (!id) return std::unexpected(id.error());
  if (auto problem = container_id_problem(*id); !problem.empty())
    return cni_fail(Code::kInvalidEnvironment, "CNI_CONTAINERID: " + problem);
  env.container_id = std::move(*id);

  auto ifname = required(lookup, "CNI_IFNAME", name);
  if (!ifname) return std::unexpected(ifname.error());
  if (auto problem = ifname_problem(*ifname); !problem.empty())
    return cni_fail(Code::kInvalidEnvironment, "CNI_IFNAME: " + problem);
  env.ifname = std::move(*ifname);

  if (env.command == Command::kDel) {
    // containerd's second DEL (RemovePodSandbox) passes CNI_NETNS="" after the netns is gone.
    env.netns = lookup("CNI_NETNS").value_or("");
  } else {
    auto netns = required(lookup, "CNI_NETNS", name);
    if (!netns) return std::unexpected(netns.error());
    env.netns = std::move(*netns);
  }
  if (!env.netns.empty() && env.netns.front() != '/')
    return cni_fail(Code::kInvalidEnvironment,
                    "CNI_NETNS: must be an absolute path, got " + quoted(env.netns));
  return env;
}

}  // namespace keymesh::cni
