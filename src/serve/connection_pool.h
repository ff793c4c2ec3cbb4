// The HTTP library's task queue with a bound: connections wait for one of `threads` workers, and
// when `max_pending` already wait, the accepting thread serves the connection itself, so it stops
// accepting (the kernel's backlog then pushes back on clients) instead of queueing without limit.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace veil::serve {

class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(std::size_t threads, std::size_t max_pending) : max_pending_(max_pending) {
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::unique_lock lock(mu_);
      if (pending_.size() < max_pending_ && !stop_) {
        pending_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    fn();  // back-pressure: the listener serves this one itself
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void loop() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;
        fn = std::move(pending_.front());
        pending_.pop_front();
      }
      fn();
    }
  }

  const std::size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> pending_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

}  // namespace veil::serve
