// JSON for site profiles and their threshold rules: GET and PUT /api/v1/profiles/{name}
// (docs/api.md). Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "detect/rules.h"

namespace aquawatch {

// Appends {"name", "description", "rules": {PARAMETER: {"critical_low", "warn_low", "warn_high",
// "critical_high" (number | null = no such limit), "hysteresis", "min_duration" (seconds)}}},
// with one entry per canonical parameter that has a rule.
void AppendProfileJson(std::string& out, const SiteProfile& profile, const RuleSet& rules);

// Applies a PUT body to `rules`: {"rules": {PARAMETER: {FIELD: value, ...} | null}}. A field
// absent keeps its value; a limit set to null removes that limit; a parameter set to null
// removes its whole rule. On success `changed` lists the parameters touched. InvalidArgument
// names the parameter and field and says why (not JSON, unknown parameter or field, wrong type,
// or a rule whose limits are out of order); `rules` is then unchanged.
Status ApplyProfileUpdate(std::string_view json_body, RuleSet& rules,
                          std::vector<ParameterId>& changed);

}  // namespace aquawatch
