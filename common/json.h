// JSON string literals for text we did not write ourselves (names from certificates, rule
// names, audit reasons): nothing a peer puts in a certificate can break a JSON line.
#pragma once

#include <string>
#include <string_view>

namespace keymesh {

// JSON string literal (with quotes) for arbitrary bytes: escapes quotes, backslashes and
// control characters, and replaces invalid UTF-8 with U+FFFD so the result always parses.
std::string json_string(std::string_view s);

}  // namespace keymesh

namespace keymesh {

// Deepest nesting of arrays and objects in JSON text, counting only brackets outside
// strings. Parsers check it before parsing untrusted text, to bound their recursion.
int json_nesting_depth(std::string_view text);

}  // namespace keymesh
