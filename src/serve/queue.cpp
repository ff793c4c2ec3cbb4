#include "veil/serve/queue.h"

namespace veil::serve {

GenerationQueue::GenerationQueue(std::size_t capacity) : capacity_(capacity), thread_([this] { loop(); }) {}

GenerationQueue::~GenerationQueue() {
  drain();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

GenerationQueue::Admit GenerationQueue::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (draining_) return Admit::kDraining;
    if (jobs_.size() >= capacity_ + (running_ ? 0 : 1)) return Admit::kFull;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return Admit::kOk;
}

void GenerationQueue::drain() {
  std::unique_lock lock(mu_);
  draining_ = true;
  idle_cv_.wait(lock, [this] { return jobs_.empty() && !running_; });
}

std::size_t GenerationQueue::waiting() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

bool GenerationQueue::busy() const {
  std::lock_guard lock(mu_);
  return running_;
}

bool GenerationQueue::draining() const {
  std::lock_guard lock(mu_);
  return draining_;
}

void GenerationQueue::loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    running_ = true;
    lock.unlock();
    job();
    lock.lock();
    running_ = false;
    if (jobs_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace veil::serve
