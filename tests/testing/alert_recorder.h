// An AlertListener that keeps every event, for tests of the alert manager.
#pragma once

#include <vector>

#include "alert/alert_manager.h"

namespace aquawatch::testing {

class AlertRecorder : public AlertListener {
 public:
  void OnAlertEvent(const AlertEvent& e) override { events.push_back(e); }
  std::vector<AlertEvent> events;
};

}  // namespace aquawatch::testing
