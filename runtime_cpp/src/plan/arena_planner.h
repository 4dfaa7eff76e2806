// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Greedy static memory planner (after tflite-micro's GreedyMemoryPlanner).
// Each buffer is live over an inclusive range of execution steps; buffers are
// placed largest first, each at the lowest aligned offset that does not
// overlap a buffer already placed whose lifetime intersects its own. The
// result is one arena whose size is known before the first inference, so a
// run never allocates.
#ifndef GEARSHIFT_PLAN_ARENA_PLANNER_H_
#define GEARSHIFT_PLAN_ARENA_PLANNER_H_

#include <cstdint>
#include <vector>

namespace gearshift {

constexpr int64_t kArenaAlignment = 64;

struct ArenaRequest {
  int64_t bytes = 0;
  int first_step = 0;  // step that writes the buffer
  int last_step = 0;   // last step that reads it (inclusive)
};

struct ArenaLayout {
  std::vector<int64_t> offsets;  // one per request, multiples of the alignment
  int64_t arena_bytes = 0;       // multiple of the alignment
};

// `alignment` must be a power of two.
ArenaLayout PlanArena(const std::vector<ArenaRequest>& requests,
                      int64_t alignment = kArenaAlignment);

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_ARENA_PLANNER_H_
