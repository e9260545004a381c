#include "core/status.h"

namespace aquawatch {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      name = "invalid argument";
      break;
    case StatusCode::kNotFound:
      name = "not found";
      break;
    case StatusCode::kUnavailable:
      name = "unavailable";
      break;
    case StatusCode::kIoError:
      name = "I/O error";
      break;
    case StatusCode::kCorruption:
      name = "corruption";
      break;
    case StatusCode::kInternal:
      name = "internal error";
      break;
    case StatusCode::kConflict:
      name = "conflict";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace aquawatch
