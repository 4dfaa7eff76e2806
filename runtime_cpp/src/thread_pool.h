// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ThreadPool: a small pool of persistent workers owned by one Runtime (no
// global state). ParallelFor splits [0, n) into a few contiguous chunks per
// thread; thread t (the caller is 0) owns the t-th run of them, claims its
// own chunks front to back, and when they are gone takes the chunks other
// threads have not started, from the back of their runs. Because each index
// is handled by exactly one thread and the split never changes the work done
// per index, kernels that compute each output element inside one index give
// bit-identical results for every thread count and every claiming order.
// With one thread everything runs inline.
//
// Why owned runs: consecutive ops of a network split their outputs the same
// way (the first part of the pixels to thread 0, the next to thread 1), so
// with every thread on its own run the rows an op reads are mostly the rows
// the same core wrote one op earlier, still in its cache. A pool where any
// thread takes any chunk scatters them over the cores each op (measured:
// 3x3 depthwise layers at 14x14 gained nothing from a second thread).
//
// Why taking other threads' chunks: on a board the pool shares its cores
// with other processes (a camera pipeline, the UI). A worker that the OS
// has not scheduled yet would hold its whole run and the caller would wait
// for it; here the caller (and any worker that is running) takes the chunks
// nobody has started, so a late worker costs at most the one chunk it is
// in, and a job never waits for a worker that has not started it.
#ifndef GEARSHIFT_THREAD_POOL_H_
#define GEARSHIFT_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace gearshift {

class ThreadPool {
 public:
  // Work (in multiply-adds) below which splitting a kernel is not worth waking
  // a worker. Tests pass 1 to force splitting of tiny shapes.
  static constexpr int64_t kDefaultMinCostPerThread = 1 << 16;

  // `threads` >= 1 counts the caller: threads - 1 workers are started.
  explicit ThreadPool(int threads, int64_t min_cost_per_thread = kDefaultMinCostPerThread);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  int64_t min_cost_per_thread() const { return min_cost_per_thread_; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n). Work below
  // `min_per_thread` indices per thread is not split further, so tiny ops do
  // not pay for waking workers. Blocks until every range is done.
  template <typename F>
  void ParallelFor(int64_t n, int64_t min_per_thread, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    RunChunks(
        n, min_per_thread, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end);
  void RunChunks(int64_t n, int64_t min_per_thread, ChunkFn fn, void* ctx);
  void WorkerLoop(int self);

  const int threads_;
  const int64_t min_cost_per_thread_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // Thread `self` claims and runs chunks of the job `job` (the runs' tag):
  // its own run first, then the other threads' unstarted chunks.
  void ClaimAndRun(int self, uint32_t job);
  // Claims one chunk of run `r` (front: the owner; back: anyone else) and
  // runs it; false when the run has none left or belongs to another job.
  bool RunOneChunk(int r, uint32_t job, bool front);

  // One thread's run of chunks, packed as (job << 32 | next << 16 | end),
  // alone on its cache line so claims on different runs do not contend.
  struct alignas(64) Run {
    std::atomic<uint64_t> word{0};
  };

  // Current job. The caller writes fn_, ctx_, n_, resets done_, then stores
  // every thread's run (job, first chunk, end) and bumps generation_
  // (release, under mu_ to wake sleepers). A thread runs chunk i only after
  // a compare-and-swap took i off a run tagged with its job (acquire), so it
  // reads fn_..n_ of that job; the caller overwrites them only after done_
  // reached chunks, i.e. after every claimed chunk finished. A worker that
  // wakes late sees another job's tag (or no chunk left) and touches
  // nothing. Waits spin briefly before sleeping: the ops of one inference
  // come back to back, and a futex round trip per op would cost more than a
  // small op's work (pthreadpool and XNNPACK spin for the same reason).
  std::atomic<uint64_t> generation_{0};
  std::vector<Run> runs_;  // one per thread, sized once
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 0;
};

}  // namespace gearshift

#endif  // GEARSHIFT_THREAD_POOL_H_
