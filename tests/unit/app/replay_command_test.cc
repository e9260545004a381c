#include <gtest/gtest.h>

#include "app/replay_command.h"
#include "core/profiles.h"

namespace aquawatch {
namespace {

// `replay --profile` takes exactly the site profiles the catalog knows, default included.
TEST(ReplayCommand, ProfilesAreTheSiteProfiles) {
  const auto& profiles = ReplayProfiles();
  ASSERT_EQ(profiles.size(), kSiteProfiles.size());
  for (std::size_t i = 0; i < profiles.size(); ++i) EXPECT_EQ(profiles[i], kSiteProfiles[i].name);
  EXPECT_EQ(ReplayCommandOptions().profile, kDefaultSiteProfile);
}

}  // namespace
}  // namespace aquawatch
