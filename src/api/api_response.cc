#include "api/api_response.h"

#include <fmt/format.h>

#include <charconv>

#include "api/json_writer.h"

namespace aquawatch {

HttpResponse ApiError(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = R"({"error":)";
  AppendJsonString(r.body, message);
  r.body += "}";
  return r;
}

HttpResponse JsonResponse(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

HttpResponse ErrorResponse(const Status& s) { return ApiError(HttpStatusFor(s), s.message()); }

std::optional<std::uint64_t> ParseApiId(std::string_view text) {
  std::uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id == 0) return std::nullopt;
  return id;
}

bool ParsePageParameters(const HttpRequest& req, std::size_t default_limit, std::size_t max_limit,
                         std::size_t* limit, std::uint64_t* before_id, std::string* error) {
  if (!ParseSize(req.Query("limit"), default_limit, max_limit, limit, error, "limit")) {
    return false;
  }
  *before_id = 0;
  if (const std::string* cursor = req.Query("cursor")) {
    auto id = ParseApiId(*cursor);
    if (!id) {
      *error = fmt::format(
          "query parameter \"cursor\": {} is not a cursor this server gave "
          "(next_cursor of an earlier page)",
          QuoteClientText(*cursor));
      return false;
    }
    *before_id = *id;
  }
  return true;
}

void AppendNextCursor(std::string& out, std::size_t count, std::size_t limit,
                      std::uint64_t last_id) {
  AppendJsonKey(out, "next_cursor");
  if (count == limit && count > 0) {
    AppendJsonString(out, std::to_string(last_id));
  } else {
    out += "null";
  }
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

bool ParseSize(const std::string* text, std::size_t fallback, std::size_t max, std::size_t* out,
               std::string* error, std::string_view name) {
  if (text == nullptr) {
    *out = fallback;
    return true;
  }
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v == 0 || v > max) {
    *error = fmt::format("query parameter \"{}\" must be an integer from 1 to {}, got \"{}\"", name,
                         max, *text);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace aquawatch
