#include "core/ingest_limits.h"

namespace aquawatch {

std::string_view LimitKey(Limit limit) {
  switch (limit) {
    case Limit::kNone:
      return "";
    case Limit::kFieldsPerLine:
      return "ingest.max_fields_per_line";
    case Limit::kFutureTime:
      return "ingest.max_future";
    case Limit::kMinTime:
      return "ingest.min_time";
    case Limit::kLateWindow:
      return "store.late_window";
    case Limit::kChunkSamples:
      return "store.chunk_span";
    case Limit::kParametersPerSensor:
      return "ingest.max_parameters_per_sensor";
    case Limit::kSensors:
      return "ingest.max_sensors";
    case Limit::kLabelValues:
      return "ingest.max_label_values";
  }
  return "";
}

std::string_view LimitLabel(Limit limit) {
  switch (limit) {
    case Limit::kNone:
      return "none";
    case Limit::kFieldsPerLine:
      return "fields_per_line";
    case Limit::kFutureTime:
      return "future_time";
    case Limit::kMinTime:
      return "min_time";
    case Limit::kLateWindow:
      return "late_window";
    case Limit::kChunkSamples:
      return "chunk_samples";
    case Limit::kParametersPerSensor:
      return "parameters_per_sensor";
    case Limit::kSensors:
      return "sensors";
    case Limit::kLabelValues:
      return "label_values";
  }
  return "none";
}

}  // namespace aquawatch
