// Fuzz target for the YAML configuration: any text gives OK or an error that names its origin,
// never an exception or a crash, and a configuration that applies renders to YAML that applies
// again to the same rendering.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/config.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  aquawatch::Config config;
  aquawatch::Status s = aquawatch::ApplyYamlText(text, "fuzz", config);
  if (!s.ok()) {
    Check(s.message().rfind("fuzz", 0) == 0);
    return 0;
  }
  const std::string yaml = aquawatch::RenderYaml(config);
  aquawatch::Config again;
  Check(aquawatch::ApplyYamlText(yaml, "rendered", again).ok());
  Check(aquawatch::RenderYaml(again) == yaml);
  (void)aquawatch::Validate(config);
  return 0;
}
