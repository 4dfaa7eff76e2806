// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The greedy arena planner: no two buffers that are live at the same step
// overlap, every offset is aligned, the arena holds every buffer, and space
// of dead buffers is reused.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "plan/arena_planner.h"

namespace gearshift {
namespace {

void ExpectValid(const std::vector<ArenaRequest>& reqs, const ArenaLayout& layout,
                 int64_t alignment) {
  ASSERT_EQ(layout.offsets.size(), reqs.size());
  EXPECT_EQ(layout.arena_bytes % alignment, 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % alignment, 0) << "buffer " << i;
    EXPECT_GE(layout.offsets[i], 0);
    EXPECT_LE(layout.offsets[i] + reqs[i].bytes, layout.arena_bytes) << "buffer " << i;
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      const bool live_together =
          reqs[i].first_step <= reqs[j].last_step && reqs[j].first_step <= reqs[i].last_step;
      if (!live_together || reqs[i].bytes == 0 || reqs[j].bytes == 0) continue;
      const bool disjoint = layout.offsets[i] + reqs[i].bytes <= layout.offsets[j] ||
                            layout.offsets[j] + reqs[j].bytes <= layout.offsets[i];
      EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j << " overlap";
    }
  }
}

TEST(ArenaPlanner, RandomLifetimesNeverOverlap) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 200; ++iter) {
    const int steps = std::uniform_int_distribution<int>(1, 30)(rng);
    const int n = std::uniform_int_distribution<int>(0, 40)(rng);
    std::vector<ArenaRequest> reqs(n);
    for (ArenaRequest& r : reqs) {
      r.bytes = std::uniform_int_distribution<int64_t>(1, 5000)(rng);
      r.first_step = std::uniform_int_distribution<int>(0, steps - 1)(rng);
      r.last_step = std::uniform_int_distribution<int>(r.first_step, steps)(rng);
    }
    const int64_t alignment = iter % 2 ? 64 : 16;
    const ArenaLayout layout = PlanArena(reqs, alignment);
    ExpectValid(reqs, layout, alignment);
    // Never worse than giving every buffer its own aligned slot.
    int64_t no_reuse = 0;
    for (const ArenaRequest& r : reqs) no_reuse += (r.bytes + alignment - 1) / alignment * alignment;
    EXPECT_LE(layout.arena_bytes, no_reuse);
    // Never smaller than what is live at the busiest step.
    for (int s = 0; s <= steps; ++s) {
      int64_t live = 0;
      for (const ArenaRequest& r : reqs) {
        if (r.first_step <= s && s <= r.last_step) live += r.bytes;
      }
      EXPECT_GE(layout.arena_bytes, live);
    }
  }
}

TEST(ArenaPlanner, ReusesSpaceOfDeadBuffers) {
  // A chain t0 -> t1 -> t2 -> t3: each buffer dies when the next is written,
  // so two slots suffice for four buffers.
  std::vector<ArenaRequest> reqs;
  for (int i = 0; i < 4; ++i) reqs.push_back({1000, i, i + 1});
  const ArenaLayout layout = PlanArena(reqs);
  ExpectValid(reqs, layout, kArenaAlignment);
  EXPECT_EQ(layout.arena_bytes, 2 * 1024);
  EXPECT_EQ(layout.offsets[0], layout.offsets[2]);
  EXPECT_EQ(layout.offsets[1], layout.offsets[3]);
}

TEST(ArenaPlanner, SmallBufferFillsGapBetweenLiveOnes) {
  // Two long-lived buffers with a dead one between them leave a gap that a
  // later small buffer takes instead of growing the arena.
  std::vector<ArenaRequest> reqs = {
      {4096, 0, 3},  // a: whole graph, offset 0
      {2048, 0, 1},  // b: dies after step 1, offset 4096
      {1024, 0, 3},  // c: whole graph, above b
      {1024, 2, 3},  // d: fits where b was
  };
  const ArenaLayout layout = PlanArena(reqs);
  ExpectValid(reqs, layout, kArenaAlignment);
  EXPECT_EQ(layout.arena_bytes, 4096 + 2048 + 1024);
  EXPECT_EQ(layout.offsets[3], layout.offsets[1]);
}

TEST(ArenaPlanner, EmptyAndZeroSized) {
  EXPECT_EQ(PlanArena({}).arena_bytes, 0);
  const ArenaLayout layout = PlanArena({{0, 0, 1}, {10, 0, 1}});
  EXPECT_EQ(layout.arena_bytes, 64);
}

}  // namespace
}  // namespace gearshift
