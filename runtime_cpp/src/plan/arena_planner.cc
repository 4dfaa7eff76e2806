// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// O(n^2 log n) in the number of buffers, which is fine for graphs of a few
// thousand tensors and runs once per (gear, input shapes).
#include "plan/arena_planner.h"

#include <algorithm>
#include <numeric>

namespace gearshift {
namespace {

int64_t AlignUp(int64_t x, int64_t alignment) { return (x + alignment - 1) & ~(alignment - 1); }

bool LifetimesOverlap(const ArenaRequest& a, const ArenaRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

ArenaLayout PlanArena(const std::vector<ArenaRequest>& requests, int64_t alignment) {
  ArenaLayout layout;
  const size_t n = requests.size();
  layout.offsets.assign(n, 0);
  // Largest first (ties: earlier first, then index) so big buffers claim low
  // offsets and small ones fill the gaps; deterministic for equal inputs.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    if (requests[a].first_step != requests[b].first_step) {
      return requests[a].first_step < requests[b].first_step;
    }
    return a < b;
  });
  std::vector<size_t> placed;
  std::vector<size_t> live;  // placed buffers overlapping the current one in time
  for (size_t idx : order) {
    const ArenaRequest& r = requests[idx];
    live.clear();
    for (size_t p : placed) {
      if (LifetimesOverlap(r, requests[p])) live.push_back(p);
    }
    std::sort(live.begin(), live.end(),
              [&](size_t a, size_t b) { return layout.offsets[a] < layout.offsets[b]; });
    // First gap (in offset order) that holds r.
    int64_t candidate = 0;
    for (size_t p : live) {
      if (candidate + r.bytes <= layout.offsets[p]) break;
      candidate = std::max(candidate, AlignUp(layout.offsets[p] + requests[p].bytes, alignment));
    }
    layout.offsets[idx] = candidate;
    layout.arena_bytes = std::max(layout.arena_bytes, AlignUp(candidate + r.bytes, alignment));
    placed.push_back(idx);
  }
  return layout;
}

}  // namespace gearshift
