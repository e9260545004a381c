// Response helpers shared by the REST routes: the JSON error shape and query-parameter parsing.
// Thread-safe (pure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.h"
#include "core/status.h"

namespace aquawatch {

// {"error": message} with `status`.
HttpResponse ApiError(int status, std::string_view message);
// A 200 response with a JSON body.
HttpResponse JsonResponse(std::string body);
// ApiError with the HTTP status for `s` (REQUIRES: not OK).
HttpResponse ErrorResponse(const Status& s);
// The `limit` (1..max_limit, default_limit when absent) and `cursor` (an id; 0 when absent)
// query parameters of a paged list, newest first. False with a message naming the parameter.
bool ParsePageParameters(const HttpRequest& req, std::size_t default_limit, std::size_t max_limit,
                         std::size_t* limit, std::uint64_t* before_id, std::string* error);
// Appends ,"next_cursor": the last id of a full page, null after the last page.
void AppendNextCursor(std::string& out, std::size_t count, std::size_t limit,
                      std::uint64_t last_id);
// An id in a path or cursor: a positive decimal integer, nothing else.
std::optional<std::uint64_t> ParseApiId(std::string_view text);

// The HTTP status for a non-OK Status: 400 InvalidArgument, 404 NotFound, 409 Conflict,
// 503 Unavailable, 500 otherwise.
int HttpStatusFor(const Status& s);

// Reads an optional integer query parameter in [1, max]; `fallback` when absent. False with a
// message naming the parameter otherwise.
bool ParseSize(const std::string* text, std::size_t fallback, std::size_t max, std::size_t* out,
               std::string* error, std::string_view name);

}  // namespace aquawatch
