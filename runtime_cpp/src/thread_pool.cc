// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ThreadPool implementation: atomics for the hand-off and for claiming
// chunks, with a bounded spin before falling back to a mutex and condition
// variables, so back-to-back kernel calls do not pay a sleep/wake-up each
// while an idle pool sleeps.
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

// Chunks per thread a job is cut into (when it has enough items): a worker
// the OS runs late then delays the job by about one chunk, not by the
// share a fixed split would have given it. More chunks cost a claim (one
// compare-and-swap) and a kernel's per-call setup each.
constexpr int64_t kChunksPerThread = 4;
// A run packs (job << 32 | next chunk << 16 | end chunk).
constexpr uint64_t kField = 0xffff;

constexpr uint64_t PackRun(uint32_t job, uint64_t next, uint64_t end) {
  return uint64_t{job} << 32 | next << 16 | end;
}

}  // namespace

ThreadPool::ThreadPool(int threads, int64_t min_cost_per_thread)
    : threads_(std::max(1, threads)),
      min_cost_per_thread_(min_cost_per_thread),
      runs_(static_cast<size_t>(threads_)) {
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
static inline void ChunkBounds(int64_t n, int64_t chunks, int64_t c, int64_t* b, int64_t* e) {
  *b = n * c / chunks;
  *e = n * (c + 1) / chunks;
}

void ThreadPool::RunChunks(int64_t n, int64_t min_per_thread, ChunkFn fn, void* ctx) {
  if (n <= 0) return;
  const int64_t min_items = std::max<int64_t>(1, min_per_thread);
  const int64_t most = std::min<int64_t>(threads_ * kChunksPerThread, kField);
  const int chunks = static_cast<int>(std::min<int64_t>(most, std::max<int64_t>(1, n / min_items)));
  if (chunks <= 1 || threads_ == 1) {
    fn(ctx, 0, n);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  chunks_ = chunks;
  done_.store(0, std::memory_order_relaxed);
  // Only this thread writes generation_ (RunChunks is not reentrant).
  const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
  const auto job = static_cast<uint32_t>(gen);
  for (int t = 0; t < threads_; ++t) {
    // Thread t owns chunks [chunks * t / threads, chunks * (t + 1) / threads).
    const uint64_t b = static_cast<uint64_t>(chunks) * t / threads_;
    const uint64_t e = static_cast<uint64_t>(chunks) * (t + 1) / threads_;
    runs_[t].word.store(PackRun(job, b, e), std::memory_order_relaxed);
  }
  {
    // Under mu_ so a worker about to sleep cannot miss the new generation;
    // the release publishes the runs and fn_..chunks_ with it.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.store(gen, std::memory_order_release);
  }
  work_cv_.notify_all();
  ClaimAndRun(0, job);
  auto all_done = [this] { return done_.load(std::memory_order_acquire) == chunks_; };
  if (!SpinUntil(all_done, kCallerSpin)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, all_done);
  }
}

bool ThreadPool::RunOneChunk(int r, uint32_t job, bool front) {
  std::atomic<uint64_t>& word = runs_[r].word;
  uint64_t cur = word.load(std::memory_order_acquire);
  uint64_t c;
  for (;;) {
    if (static_cast<uint32_t>(cur >> 32) != job) return false;  // a later job's run
    const uint64_t next = (cur >> 16) & kField, end = cur & kField;
    if (next >= end) return false;  // every chunk of the run is taken
    c = front ? next : end - 1;
    const uint64_t want = front ? PackRun(job, next + 1, end) : PackRun(job, next, end - 1);
    // On failure cur is reloaded and checked again.
    if (word.compare_exchange_weak(cur, want, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      break;
    }
  }
  const int chunks = chunks_;
  int64_t b, e;
  ChunkBounds(n_, chunks, static_cast<int64_t>(c), &b, &e);
  fn_(ctx_, b, e);
  if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
    std::lock_guard<std::mutex> lock(mu_);  // pairs with the caller's sleep
    done_cv_.notify_one();
  }
  return true;
}

void ThreadPool::ClaimAndRun(int self, uint32_t job) {
  while (RunOneChunk(self, job, /*front=*/true)) {
  }
  // Own run done: take what the others have not started, nearest first.
  for (int k = 1; k < threads_; ++k) {
    const int victim = (self + k) % threads_;
    while (RunOneChunk(victim, job, /*front=*/false)) {
    }
  }
}

void ThreadPool::WorkerLoop(int self) {
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
    ClaimAndRun(self, static_cast<uint32_t>(gen));
  }
}

}  // namespace gearshift
