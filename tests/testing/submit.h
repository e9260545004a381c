// Submits a batch to a pipeline and waits until it is durable (or refused).
#pragma once

#include <future>

#include "pipeline/pipeline.h"

namespace aquawatch::testing {

// The whole result; a batch the pipeline did not take comes back as its status.
inline WriteResult SubmitForResult(Pipeline& p, const ReadingBatch& b) {
  std::promise<WriteResult> done;
  Status s = p.Submit(b, [&](const WriteResult& r) { done.set_value(r); });
  if (!s.ok()) {
    WriteResult refused;
    refused.status = s;
    return refused;
  }
  return done.get_future().get();
}

inline Status SubmitAndWait(Pipeline& p, const ReadingBatch& b) {
  return SubmitForResult(p, b).status;
}

}  // namespace aquawatch::testing
