// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ThreadPool implementation: one mutex and two condition variables. Jobs are
// coarse (one per kernel call), so a lock per job costs little next to the
// work, and it keeps the pool obviously correct.
#include "thread_pool.h"

#include <algorithm>

namespace gearshift {

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
    stop_ = true;
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    chunks_ = chunks;
    pending_ = chunks - 1;
    ++generation_;
  }
  work_cv_.notify_all();
  int64_t b, e;
  ChunkBounds(n, chunks, 0, &b, &e);
  fn(ctx, b, e);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen = 0;
  for (;;) {
    ChunkFn fn;
    void* ctx;
    int64_t n;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (worker_index >= chunks_) continue;  // this job needs fewer threads
      fn = fn_;
      ctx = ctx_;
      n = n_;
      chunks = chunks_;
    }
    int64_t b, e;
    ChunkBounds(n, chunks, worker_index, &b, &e);
    fn(ctx, b, e);
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = --pending_ == 0;
    }
    if (last) done_cv_.notify_one();
  }
}

}  // namespace gearshift
