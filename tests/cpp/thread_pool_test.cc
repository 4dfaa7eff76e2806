// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ThreadPool: every index runs exactly once in contiguous chunks, for any
// thread count and job size, over many back-to-back jobs; and chunks are
// claimed, not assigned, so one thread held up inside a chunk does not hold
// up the chunks nobody has started.
#include "thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace gearshift {
namespace {

TEST(ThreadPool, EveryIndexOnceInContiguousChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1000, 100003}) {
      for (int64_t min_per_thread : {1, 10, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> ranges;
        pool.ParallelFor(n, min_per_thread, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          ranges.emplace_back(b, e);
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
              << "threads " << threads << " n " << n << " min " << min_per_thread << " i " << i;
        }
        std::sort(ranges.begin(), ranges.end());
        int64_t next = 0;
        for (const auto& r : ranges) {
          EXPECT_EQ(r.first, next);
          EXPECT_LT(r.first, r.second);
          next = r.second;
        }
        EXPECT_EQ(next, n);
        // Not split below min_per_thread items a chunk (unless n is smaller).
        if (n >= min_per_thread) {
          for (const auto& r : ranges) EXPECT_GE(r.second - r.first, min_per_thread / 2);
        }
      }
    }
  }
}

TEST(ThreadPool, ManyBackToBackJobs) {
  ThreadPool pool(3, 1);
  int64_t total = 0;
  for (int job = 0; job < 20000; ++job) {
    const int64_t n = 1 + job % 37;
    std::atomic<int64_t> sum{0};
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      int64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += i + 1;
      sum.fetch_add(s);
    });
    ASSERT_EQ(sum.load(), n * (n + 1) / 2) << "job " << job;
    total += sum.load();
  }
  EXPECT_GT(total, 0);
}

// Chunk 0 (claimed first) waits until every other chunk is done. With a
// fixed chunk per thread the thread holding chunk 0 would also own other
// chunks and this would never finish; with claiming, the other threads
// take them all. Waits for completion, not for a time, so a loaded machine
// only makes it slower.
TEST(ThreadPool, OtherThreadsTakeTheChunksOfOneThatIsHeldUp) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads, 1);
    const int64_t n = 1000;
    std::atomic<int64_t> others_done{0};
    std::atomic<int64_t> chunks{0};
    std::atomic<bool> timed_out{false};
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      chunks.fetch_add(1);
      if (b != 0) {
        others_done.fetch_add(e - b);
        return;
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (others_done.load() < n - e) {
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          return;
        }
        std::this_thread::yield();
      }
    });
    EXPECT_FALSE(timed_out.load()) << threads << " threads";
    EXPECT_GT(chunks.load(), threads) << "a job is cut into more chunks than threads";
  }
}

}  // namespace
}  // namespace gearshift
