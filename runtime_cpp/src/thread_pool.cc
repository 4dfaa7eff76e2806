// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ThreadPool implementation: atomics for the hand-off, with a bounded spin
// before falling back to a mutex and condition variables, so back-to-back
// kernel calls do not pay a sleep/wake-up each while an idle pool sleeps.
#include "thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace gearshift {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spins until done() or until `budget` has passed; returns done().
template <typename Pred>
bool SpinUntil(Pred done, std::chrono::microseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (int i = 1;; ++i) {
    if (done()) return true;
    CpuRelax();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() >= deadline) return done();
  }
}

// How long a worker spins for the next job, and the caller for the workers,
// before sleeping. Long enough to span the gap between two ops of one run,
// short enough that an idle pool stops burning a core almost at once.
constexpr std::chrono::microseconds kWorkerSpin{200};
constexpr std::chrono::microseconds kCallerSpin{2000};

}  // namespace

ThreadPool::ThreadPool(int threads, int64_t min_cost_per_thread)
    : threads_(std::max(1, threads)), min_cost_per_thread_(min_cost_per_thread) {
  workers_.reserve(threads_ - 1);
  for (int i = 1; i < threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

// Chunk c of `chunks` over [0, n): the same split for the same (n, chunks).
static inline void ChunkBounds(int64_t n, int chunks, int c, int64_t* b, int64_t* e) {
  *b = n * c / chunks;
  *e = n * (c + 1) / chunks;
}

void ThreadPool::RunChunks(int64_t n, int64_t min_per_thread, ChunkFn fn, void* ctx) {
  if (n <= 0) return;
  const int64_t min_items = std::max<int64_t>(1, min_per_thread);
  const int chunks = static_cast<int>(
      std::min<int64_t>(threads_, std::max<int64_t>(1, n / min_items)));
  if (chunks <= 1) {
    fn(ctx, 0, n);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  chunks_ = chunks;
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  {
    // Under mu_ so a worker about to sleep cannot miss the new generation.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_all();
  int64_t b, e;
  ChunkBounds(n, chunks, 0, &b, &e);
  fn(ctx, b, e);
  auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!SpinUntil(all_done, kCallerSpin)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, all_done);
  }
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = seen;
    auto has_job = [&] {
      gen = generation_.load(std::memory_order_acquire);
      return gen != seen || stop_.load(std::memory_order_acquire);
    };
    if (!SpinUntil(has_job, kWorkerSpin)) {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, has_job);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = gen;
    if (worker_index < chunks_) {
      int64_t b, e;
      ChunkBounds(n_, chunks_, worker_index, &b, &e);
      fn_(ctx_, b, e);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);  // pairs with the caller's sleep
      done_cv_.notify_one();
    }
  }
}

}  // namespace gearshift
