// Splitting an HTTP request target into its path and query parameters, percent-decoded.
// Kept apart from the server so the parsing can be unit-tested and fuzzed without sockets.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "api/http_types.h"

namespace aquawatch {

// Decodes %XX escapes and '+' as a space; a '%' not followed by two hex digits stays as it is.
std::string PercentDecode(std::string_view s);

// Sets r.path (decoded, without the query) and appends each `name=value` pair of the query to
// r.query, decoded, in order; a pair without '=' has an empty value; empty pairs are skipped.
void SplitTarget(std::string_view target, HttpRequest& r);

}  // namespace aquawatch
