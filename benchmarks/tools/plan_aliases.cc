// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Counts what RESHAPE aliases save (benchmarks/bench_aliases.py runs it):
// for each gear of each .gear file given, builds the plan at batch 1 twice,
// with the default op registry (RESHAPE an alias where PlanMemory allows)
// and with one whose RESHAPE always copies (the runtime before aliases),
// and prints one JSON object per line: reshape nodes, alias steps, the
// bytes a run no longer copies, arena bytes of both. Built with the test suite (it reads the
// runtime's internal plan, which the public API does not show).
//
//   build/gearshift-plan-aliases model.gear [more.gear ...]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "plan/op_registry.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"

namespace gearshift {
namespace {

OpRegistry CopyingRegistry() {
  std::vector<OpDef> defs;
  for (size_t i = 0; i < kNumOpTypes; ++i) {
    if (const OpDef* d = OpRegistry::Default().Find(static_cast<OpType>(i))) {
      OpDef c = *d;
      c.alias = false;
      defs.push_back(c);
    }
  }
  return OpRegistry(defs);
}

int Report(const std::string& path, const OpRegistry& copying) {
  std::unique_ptr<GearFile> file;
  Status s = GearFile::Open(path, GearFile::Options(), &file);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), s.message().c_str());
    return 1;
  }
  const ModelDesc& model = file->model();
  std::vector<Shape> shapes;
  for (int t : model.inputs) {
    Shape sh = model.tensors[t].shape;
    for (int64_t& d : sh) d = d < 0 ? 1 : d;  // batch 1
    shapes.push_back(sh);
  }
  int reshapes = 0;
  for (const NodeDesc& n : model.nodes) reshapes += n.op == OpType::kReshape ? 1 : 0;
  for (size_t g = 0; g < model.gears.size(); ++g) {
    std::shared_ptr<const GearWeights> weights;
    s = PrepareGearWeights(model, static_cast<int>(g), &weights);
    std::unique_ptr<Plan> alias, copy;
    if (s.ok()) s = Plan::Build(model, weights, shapes, KernelTable(), nullptr, &alias);
    if (s.ok()) {
      s = Plan::Build(model, weights, shapes, KernelTable(), nullptr, &copy, false, copying);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "%s gear %s: %s\n", path.c_str(), model.gears[g].name.c_str(),
                   s.message().c_str());
      return 1;
    }
    // Bytes per inference the alias steps no longer copy.
    long long skipped = 0;
    for (size_t i = 0; i < alias->steps().size(); ++i) {
      const PlanStep& st = alias->steps()[i];
      if (!st.alias) continue;
      const int o = model.nodes[i].outputs[0];
      skipped += st.out_elements * (alias->tensor_int8(o) ? 1 : 4);
    }
    std::printf(
        "{\"file\": \"%s\", \"gear\": \"%s\", \"nodes\": %zu, \"reshape_nodes\": %d, "
        "\"alias_steps\": %d, \"copy_bytes_skipped\": %lld, \"arena_bytes_alias\": %lld, "
        "\"arena_bytes_copy\": %lld}\n",
        path.c_str(), model.gears[g].name.c_str(), model.nodes.size(), reshapes,
        alias->alias_steps(), skipped, static_cast<long long>(alias->arena_bytes()),
        static_cast<long long>(copy->arena_bytes()));
  }
  return 0;
}

}  // namespace
}  // namespace gearshift

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.gear [more.gear ...]\n", argv[0]);
    return 2;
  }
  const gearshift::OpRegistry copying = gearshift::CopyingRegistry();
  int rc = 0;
  for (int i = 1; i < argc; ++i) rc |= gearshift::Report(argv[i], copying);
  return rc;
}
