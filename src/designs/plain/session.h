// The data owner's side of `plain` with workers: embeddings, norms, attention, LoRA, the LM head,
// the loss and the optimizer stay here; every block projection runs on the worker owning its
// layer (RemoteExecutor). Micro-batches of a step run concurrently so that workers compute at
// the same time, and a worker that goes away is waited for and the step redone.
//
// Options (--opt key=value):
//   workers=in-process   in-process workers instead of --workers (tests, single machine)
//   shards=N             with workers=in-process: N workers with contiguous layer ranges (default 1)
//   pipeline=on|off      run a step's micro-batches concurrently (default on; off with LoRA dropout)
//   in_flight=K          micro-batches in flight at once (default: max(2, number of workers))
//   worker_wait_s=S      how long to wait for an unavailable worker before failing (default 300)
#pragma once

#include <memory>

#include "veil/train/design.h"
#include "veil/train/finetune.h"

namespace veil::designs::plain {

// The session for cfg: the local plain session (open_local_session, local_session.h) when neither --workers
// nor workers=in-process is given, the remote one otherwise. Throws std::invalid_argument naming
// an unknown or malformed option.
[[nodiscard]] std::unique_ptr<train::DesignSession> open_session(const train::FinetuneConfig& cfg);

}  // namespace veil::designs::plain
