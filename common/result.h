// Result type for the control path (docs/style.md habit 7): std::expected with a module error.
// The packet path does not use this; it returns enums and counts drops instead.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace keymesh {

// A control-path error that carries a human message. Modules that need to branch on the
// kind of failure define their own enum and put it beside the message.
struct Error {
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

}  // namespace keymesh
