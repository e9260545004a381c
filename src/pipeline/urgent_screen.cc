#include "pipeline/urgent_screen.h"

#include <algorithm>

namespace aquawatch {

void UrgentScreen::Update(const ProfileRules& rules, std::uint64_t in_use) {
  const std::size_t fallback = DefaultSiteProfileIndex();
  for (std::size_t p = 0; p < kCanonicalParameterCount; ++p) {
    auto limits_of = [&](std::size_t profile) {
      const ThresholdRule& rule = rules.For(profile).by_parameter[p];
      return rule.enabled ? std::pair{rule.critical_low, rule.critical_high}
                          : std::pair{-kNoLimit, kNoLimit};
    };
    double low = -kNoLimit, high = kNoLimit;
    for (std::size_t profile = 0; profile < kSiteProfiles.size(); ++profile) {
      const auto [l, h] = limits_of(profile);
      Set(by_profile_[profile][p], l, h);
      if (profile == fallback || (in_use >> profile & 1) == 0) continue;
      low = std::max(low, l);
      high = std::min(high, h);
    }
    const auto [l, h] = limits_of(fallback);
    Set(default_[p], l, h);
    Set(others_[p], low, high);
  }
}

}  // namespace aquawatch
