// The notification routes of the REST API (docs/api.md "Notifications"):
//   GET    /api/v1/notifications              newest first; ?state=pending,delivered,failed,
//                                             cancelled|all &alert= &channel= &receiver=
//                                             &limit= &cursor= (state=failed: the dead letters)
//   GET    /api/v1/notifications/{id}         one, with every attempt
//   POST   /api/v1/notifications/{id}/retry   sends a failed or cancelled one again
//   GET    /api/v1/notify/policy              the policy in force and where it comes from
//   PUT    /api/v1/notify/policy?by=NAME      replaces it (the body is the policy document)
//   DELETE /api/v1/notify/policy?by=NAME      back to the config's
// Thread-safety: stateless; the notifier is thread-safe.
#pragma once

#include <string_view>

#include "api/http_types.h"
#include "notify/notifier.h"

namespace aquawatch {

inline constexpr std::string_view kNotificationsPath = "/api/v1/notifications";
inline constexpr std::string_view kNotifyPolicyPath = "/api/v1/notify/policy";

// REQUIRES: request.path starts with kNotificationsPath or is kNotifyPolicyPath.
HttpResponse HandleNotifyRoute(Notifier& notifier, const HttpRequest& request);

}  // namespace aquawatch
