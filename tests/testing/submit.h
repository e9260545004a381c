// Submits a batch to a pipeline and waits until it is durable (or refused).
#pragma once

#include <future>

#include "pipeline/pipeline.h"

namespace aquawatch::testing {

inline Status SubmitAndWait(Pipeline& p, const ReadingBatch& b) {
  std::promise<Status> done;
  Status s = p.Submit(b, [&](const WriteResult& r) { done.set_value(r.status); });
  if (!s.ok()) return s;
  return done.get_future().get();
}

}  // namespace aquawatch::testing
