// The site profiles a sensor can belong to. One list for the catalog (which seeds its profiles
// table from it), `aquawatch replay --profile` and, with issue 4, the detection rules per profile.
#pragma once

#include <array>
#include <string_view>

namespace aquawatch {

struct SiteProfile {
  std::string_view name;
  std::string_view description;
};

inline constexpr std::array<SiteProfile, 5> kSiteProfiles = {{
    {"treated_drinking_water",
     "Finished water leaving a treatment plant: tight pH, turbidity and chlorine residual "
     "limits."},
    {"distribution_network",
     "Mains, reservoirs and service points between the plant and the tap: residual decay, "
     "discolouration, intrusion."},
    {"raw_surface_water",
     "Rivers, lakes and reservoirs before treatment: wide natural ranges, storm turbidity, "
     "seasonal oxygen and temperature."},
    {"groundwater",
     "Wells and boreholes: stable temperature and conductivity, where slow drift and intrusion "
     "matter more than spikes."},
    {"wastewater_effluent",
     "Treated wastewater at the discharge point, checked against permit limits."},
}};

inline constexpr std::string_view kDefaultSiteProfile = "treated_drinking_water";

}  // namespace aquawatch
