// The bounded generation queue: one thread runs generation jobs one at a time, in arrival order.
// submit() refuses at once (never blocks) when `capacity` jobs already wait or the queue drains,
// so an overloaded server answers 429/503 instead of piling requests up in memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace veil::serve {

class GenerationQueue {
 public:
  enum class Admit { kOk, kFull, kDraining };

  explicit GenerationQueue(std::size_t capacity);  // capacity: jobs waiting besides the running one
  ~GenerationQueue();                              // drains, then joins the thread
  GenerationQueue(const GenerationQueue&) = delete;
  GenerationQueue& operator=(const GenerationQueue&) = delete;

  [[nodiscard]] Admit submit(std::function<void()> job);  // job must not throw
  // Refuses new jobs from now on and blocks until every admitted job has finished.
  void drain();
  [[nodiscard]] std::size_t waiting() const;  // jobs admitted and not started
  [[nodiscard]] bool busy() const;            // a job is running
  [[nodiscard]] bool draining() const;

 private:
  void loop();

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> jobs_;
  bool running_ = false, draining_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace veil::serve
