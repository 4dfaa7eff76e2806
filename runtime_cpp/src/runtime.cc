// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The Runtime behind include/gearshift/gearshift.h: owns the mapped file, the
// thread pool, the plan cache and one activation arena that grows to the
// largest plan used. Every public entry point catches std::bad_alloc and any
// other exception and returns a Status, so nothing throws out of the runtime.
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "dispatch.h"
#include "plan/plan.h"
#include "plan/shape_inference.h"
#include "runtime_impl.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

// Runs f() and turns any escaping exception into a Status naming `where`.
template <typename F>
Status Guarded(const char* where, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Internal(std::string(where) + ": out of memory");
  } catch (const std::exception& e) {
    return Internal(std::string(where) + ": " + e.what());
  } catch (...) {
    return Internal(std::string(where) + ": unknown error");
  }
}

// Heap buffer whose start is aligned to the arena alignment (64 bytes).
class AlignedBuffer {
 public:
  uint8_t* data() const { return aligned_; }
  size_t capacity() const { return capacity_; }
  // Grows to at least `bytes`; old contents are not kept (arena data never
  // outlives a Run). May throw std::bad_alloc.
  void Reserve(size_t bytes) {
    if (bytes <= capacity_ && aligned_ != nullptr) return;
    constexpr size_t kAlign = 64;
    std::unique_ptr<uint8_t[]> raw(new uint8_t[bytes + kAlign]);
    const uintptr_t p = reinterpret_cast<uintptr_t>(raw.get());
    aligned_ = raw.get() + ((kAlign - p % kAlign) % kAlign);
    raw_ = std::move(raw);
    capacity_ = bytes;
  }

 private:
  std::unique_ptr<uint8_t[]> raw_;
  uint8_t* aligned_ = nullptr;
  size_t capacity_ = 0;
};

class RuntimeImpl final : public Runtime {
 public:
  RuntimeImpl(std::unique_ptr<GearFile> file, int gear, int threads, KernelTable kernels)
      : file_(std::move(file)),
        model_(file_->model()),
        gear_index_(gear),
        pool_(threads),
        isa_(kernels.isa),
        cache_(16, std::move(kernels)) {
    for (int t : model_.inputs) inputs_.push_back(Info(t));
    for (int t : model_.outputs) outputs_.push_back(Info(t));
    for (const GearDesc& g : model_.gears) gears_.push_back(g.name);
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  const std::vector<std::string>& gears() const override { return gears_; }
  const std::string& gear() const override { return gears_[gear_index_]; }
  const std::vector<Shape>& output_shapes() const override { return output_shapes_; }
  int64_t arena_bytes() const override { return plan_ != nullptr ? plan_->arena_bytes() : 0; }
  double last_latency_ms() const override { return last_latency_ms_; }
  int threads() const override { return pool_.threads(); }
  const std::string& isa() const override { return isa_; }

  Status SetGear(const std::string& name) override {
    return Guarded("SetGear", [&]() -> Status {
      int index;
      GS_RETURN_IF_ERROR(FindGear(model_, name, &index));
      gear_index_ = index;
      return Status::Ok();
    });
  }

  Status Prepare(const std::vector<Shape>& input_shapes) override {
    return Guarded("Prepare", [&] { return PrepareImpl(input_shapes); });
  }

  Status Run(const void* const* inputs, void* const* outputs) override {
    return Guarded("Run", [&]() -> Status {
      if (plan_ == nullptr || plan_->gear() != gear_index_) {
        GS_RETURN_IF_ERROR(PrepareForRun());
      }
      if (inputs == nullptr || outputs == nullptr) {
        return InvalidArgument("Run: inputs and outputs must not be null");
      }
      for (size_t i = 0; i < inputs_.size(); ++i) {
        if (inputs[i] == nullptr) {
          return InvalidArgument("Run: input " + std::to_string(i) + " ('" +
                                 inputs_[i].name + "') is null");
        }
      }
      for (size_t i = 0; i < outputs_.size(); ++i) {
        if (outputs[i] == nullptr) {
          return InvalidArgument("Run: output " + std::to_string(i) + " ('" +
                                 outputs_[i].name + "') is null");
        }
      }
      const auto start = std::chrono::steady_clock::now();
      plan_->Run(inputs, outputs, arena_.data(), &pool_);
      const auto end = std::chrono::steady_clock::now();
      last_latency_ms_ = std::chrono::duration<double, std::milli>(end - start).count();
      return Status::Ok();
    });
  }

  static Status FindGear(const ModelDesc& model, const std::string& name, int* index) {
    std::string names;
    for (size_t i = 0; i < model.gears.size(); ++i) {
      if (model.gears[i].name == name) {
        *index = static_cast<int>(i);
        return Status::Ok();
      }
      names += (i > 0 ? ", " : "") + model.gears[i].name;
    }
    return InvalidArgument("unknown gear '" + name + "'; available gears: " + names);
  }

 private:
  TensorInfo Info(int t) const {
    TensorInfo info;
    info.name = model_.tensors[t].name;
    info.shape = model_.tensors[t].shape;
    info.dtype = model_.tensors[t].dtype;
    return info;
  }

  Status PrepareImpl(const std::vector<Shape>& input_shapes) {
    Plan* plan = nullptr;
    std::shared_ptr<const GearWeights> weights;
    GS_RETURN_IF_ERROR(PrepareGearWeights(model_, gear_index_, &weights));
    GS_RETURN_IF_ERROR(cache_.Get(model_, weights, input_shapes, &plan));
    try {
      arena_.Reserve(static_cast<size_t>(plan->arena_bytes()));
    } catch (const std::bad_alloc&) {
      plan_ = nullptr;  // the cache may have evicted the old plan
      return Internal("out of memory allocating a " + std::to_string(plan->arena_bytes()) +
                      "-byte activation arena");
    }
    plan_ = plan;
    prepared_ = true;
    prepared_shapes_ = input_shapes;
    output_shapes_ = plan->output_shapes();
    return Status::Ok();
  }

  // Run without a plan for the current gear: reuse the last prepared shapes,
  // or the declared ones when no input has a batch wildcard.
  Status PrepareForRun() {
    if (prepared_) return PrepareImpl(prepared_shapes_);
    std::vector<Shape> shapes;
    for (const TensorInfo& in : inputs_) {
      if (!in.shape.empty() && in.shape[0] < 0) {
        return InvalidArgument("Run: call Prepare() first: input '" + in.name +
                               "' has shape " + ShapeToString(in.shape) +
                               " with a batch wildcard");
      }
      shapes.push_back(in.shape);
    }
    return PrepareImpl(shapes);
  }

  std::unique_ptr<GearFile> file_;
  const ModelDesc& model_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<std::string> gears_;
  int gear_index_;
  ThreadPool pool_;
  std::string isa_;
  PlanCache cache_;
  Plan* plan_ = nullptr;  // owned by cache_
  bool prepared_ = false;  // a Prepare succeeded; prepared_shapes_ is valid
  std::vector<Shape> prepared_shapes_;
  std::vector<Shape> output_shapes_;
  AlignedBuffer arena_;
  double last_latency_ms_ = 0.0;
};

}  // namespace

Status CreateRuntime(std::unique_ptr<GearFile> file, const RuntimeOptions& options,
                     std::unique_ptr<Runtime>* out) {
  return Guarded("Open", [&]() -> Status {
    if (file == nullptr || out == nullptr) return InvalidArgument("Open: null argument");
    if (options.threads < 1 || options.threads > 1024) {
      return InvalidArgument("threads must be in [1, 1024], got " +
                             std::to_string(options.threads));
    }
    const ModelDesc& model = file->model();
    if (model.gears.empty()) return FormatError("file has no gears");
    int gear = 0;
    if (!options.gear.empty()) {
      GS_RETURN_IF_ERROR(RuntimeImpl::FindGear(model, options.gear, &gear));
    }
    KernelTable kernels;
    GS_RETURN_IF_ERROR(BuildKernelTable(options.isa, &kernels));
    *out = std::make_unique<RuntimeImpl>(std::move(file), gear, options.threads,
                                         std::move(kernels));
    return Status::Ok();
  });
}

Status Runtime::Open(const std::string& path, const RuntimeOptions& options,
                     std::unique_ptr<Runtime>* out) {
  return Guarded("Open", [&]() -> Status {
    if (out == nullptr) return InvalidArgument("Open: out must not be null");
    GearFile::Options file_options;
    file_options.verify_checksums = options.verify_checksums;
    file_options.use_mmap = options.use_mmap;
    std::unique_ptr<GearFile> file;
    GS_RETURN_IF_ERROR(GearFile::Open(path, file_options, &file));
    return CreateRuntime(std::move(file), options, out);
  });
}

}  // namespace gearshift
