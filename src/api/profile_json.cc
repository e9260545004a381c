#include "api/profile_json.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cmath>

#include "api/json_writer.h"

namespace aquawatch {
namespace {

namespace json = boost::json;

std::string KnownFields() {
  std::string known;
  for (const RuleField& f : kRuleFields) {
    if (!known.empty()) known += ", ";
    known += f.name;
  }
  return known;
}

std::string KnownParameters() {
  std::string known;
  for (int p = 0; p < kCanonicalParameterCount; ++p) {
    if (!known.empty()) known += ", ";
    known += ParameterName(static_cast<ParameterId>(p));
  }
  return known;
}

Status ApplyRuleFields(const json::object& fields, std::string_view parameter,
                       ThresholdRule& rule) {
  for (const json::key_value_pair& kv : fields) {
    const std::string_view key(kv.key().data(), kv.key().size());
    const RuleField* field = nullptr;
    for (const RuleField& f : kRuleFields) {
      if (f.name == key) field = &f;
    }
    if (field == nullptr) {
      return Status::InvalidArgument(fmt::format("rules.{}: unknown field {} (known: {})",
                                                 parameter, QuoteClientText(key), KnownFields()));
    }
    const json::value& v = kv.value();
    if (v.is_null()) {
      rule.*field->field = field->is_limit ? NoLimit(field->field) : 0;
    } else if (v.is_number()) {
      const double d = v.to_number<double>();
      if (!std::isfinite(d)) {
        return Status::InvalidArgument(
            fmt::format("rules.{}.{}: must be a finite number", parameter, key));
      }
      rule.*field->field = d;
    } else {
      return Status::InvalidArgument(
          fmt::format("rules.{}.{}: must be a number or null", parameter, key));
    }
  }
  return Status::Ok();
}

}  // namespace

void AppendProfileJson(std::string& out, const SiteProfile& profile, const RuleSet& rules) {
  out += '{';
  AppendJsonKey(out, "name", true);
  AppendJsonString(out, profile.name);
  AppendJsonKey(out, "description");
  AppendJsonString(out, profile.description);
  AppendJsonKey(out, "rules");
  out += '{';
  bool first = true;
  for (int p = 0; p < kCanonicalParameterCount; ++p) {
    const ThresholdRule& rule = rules.by_parameter[static_cast<std::size_t>(p)];
    if (!rule.enabled) continue;
    AppendJsonKey(out, ParameterName(static_cast<ParameterId>(p)), first);
    first = false;
    out += '{';
    bool first_field = true;
    for (const RuleField& f : kRuleFields) {
      AppendJsonKey(out, f.name, first_field);
      first_field = false;
      AppendJsonNumber(out, rule.*f.field);  // an infinite limit is null
    }
    out += '}';
  }
  out += "}}";
}

Status ApplyProfileUpdate(std::string_view json_body, RuleSet& rules,
                          std::vector<ParameterId>& changed) {
  json::error_code ec;
  json::value body = json::parse(json::string_view(json_body.data(), json_body.size()), ec);
  if (ec) return Status::InvalidArgument(fmt::format("body is not valid JSON: {}", ec.message()));
  if (!body.is_object()) return Status::InvalidArgument("body must be a JSON object");
  for (const json::key_value_pair& kv : body.get_object()) {
    const std::string_view key(kv.key().data(), kv.key().size());
    if (key == "name" || key == "description") {
      return Status::InvalidArgument(
          fmt::format("field '{}' is read-only (profiles are fixed; their rules are not)", key));
    }
    if (key != "rules") {
      return Status::InvalidArgument(
          fmt::format("unknown field {} (known: rules)", QuoteClientText(key)));
    }
  }
  const json::value* rules_value = body.get_object().if_contains("rules");
  if (rules_value == nullptr || !rules_value->is_object()) {
    return Status::InvalidArgument(
        "field 'rules' must be an object of parameter name -> rule (or null)");
  }
  RuleSet next = rules;
  std::vector<ParameterId> touched;
  for (const json::key_value_pair& kv : rules_value->get_object()) {
    const std::string_view name(kv.key().data(), kv.key().size());
    const ParameterId id = ParameterFromName(name);
    if (id == ParameterId::kCustom) {
      return Status::InvalidArgument(fmt::format("rules: unknown parameter {} (known: {})",
                                                 QuoteClientText(name), KnownParameters()));
    }
    ThresholdRule& rule = next.For(id);
    if (kv.value().is_null()) {
      rule = ThresholdRule{};
    } else if (kv.value().is_object()) {
      if (Status s = ApplyRuleFields(kv.value().get_object(), name, rule); !s.ok()) return s;
      UpdateEnabled(rule);
      if (Status s = ValidateRule(rule, fmt::format("rules.{}", name)); !s.ok()) return s;
    } else {
      return Status::InvalidArgument(
          fmt::format("rules.{}: must be an object of limits, or null to remove the rule", name));
    }
    touched.push_back(id);
  }
  rules = next;
  changed = std::move(touched);
  return Status::Ok();
}

}  // namespace aquawatch
