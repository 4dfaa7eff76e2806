// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The Runtime behind include/gearshift/gearshift.h: owns the mapped file, the
// thread pool, the plan cache, each gear's prepared weights (within an
// optional memory budget) and one activation arena that grows to the largest
// plan used. Every public entry point catches std::bad_alloc and any other
// exception and returns a Status, so nothing throws out of the runtime.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#include "dispatch.h"
#include "plan/graph_io.h"
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

// Concurrency: run_mu_ serialises everything that touches the plan cache,
// the current plan and the arena (Run, Prepare, dropping evicted plans);
// state_mu_ guards the per-gear weights and the budget bookkeeping, and is
// held only briefly (or while a gear's weights are prepared). Lock order:
// run_mu_, then state_mu_. SetGear takes only state_mu_, so it never waits
// for a run; a run reads the gear once at its start and finishes in it.
class RuntimeImpl final : public Runtime {
 public:
  RuntimeImpl(std::unique_ptr<GearFile> file, int gear, int threads, KernelTable kernels,
              bool prepare_all, int64_t budget, bool keep_tensors)
      : file_(std::move(file)),
        model_(file_->model()),
        gear_index_(gear),
        pool_(threads),
        isa_(kernels.isa),
        prepare_all_(prepare_all),
        budget_(budget),
        keep_tensors_(keep_tensors),
        cache_(16, std::move(kernels), keep_tensors),
        slots_(model_.gears.size()) {
    for (int t : model_.inputs) inputs_.push_back(Info(t));
    for (int t : model_.outputs) outputs_.push_back(Info(t));
    for (const TensorInfo& t : inputs_) integer_io_ |= t.dtype != DType::kF32;
    for (const TensorInfo& t : outputs_) integer_io_ |= t.dtype != DType::kF32;
    for (const GearDesc& g : model_.gears) gears_.push_back(g.name);
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  const std::vector<std::string>& gears() const override { return gears_; }
  const std::string& gear() const override { return gears_[gear_index_.load()]; }
  const std::vector<Shape>& output_shapes() const override { return output_shapes_; }
  int64_t arena_bytes() const override { return arena_bytes_.load(); }
  double last_latency_ms() const override { return last_latency_ms_.load(); }
  void SetProfiling(bool on) override { profiling_.store(on); }
  std::vector<NodeTime> last_profile() const override {
    std::lock_guard<std::mutex> lock(profile_mu_);
    return last_profile_;
  }
  int threads() const override { return pool_.threads(); }
  const std::string& isa() const override { return isa_; }

  int64_t prepared_bytes() const override {
    std::lock_guard<std::mutex> state(state_mu_);
    return PreparedBytesLocked();
  }

  Status SetGear(const std::string& name) override {
    return Guarded("SetGear", [&]() -> Status {
      int index;
      GS_RETURN_IF_ERROR(FindGear(model_, name, &index));
      {
        std::lock_guard<std::mutex> state(state_mu_);
        GS_RETURN_IF_ERROR(EnsureWeightsLocked(index));
        gear_index_.store(index);
      }
      // Free evicted gears' plans now if no run is in flight; else the next
      // Run does it (a running plan must not be destroyed under it).
      std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
      if (run.owns_lock()) ApplyPendingDrops();
      return Status::Ok();
    });
  }

  Status Prepare(const std::vector<Shape>& input_shapes) override {
    return Guarded("Prepare", [&] {
      std::lock_guard<std::mutex> run(run_mu_);
      return PrepareImpl(gear_index_.load(), input_shapes);
    });
  }

  Status Run(const void* const* inputs, void* const* outputs) override {
    return RunImpl(inputs, outputs, false);
  }
  Status RunIo(const void* const* inputs, void* const* outputs) override {
    return RunImpl(inputs, outputs, integer_io_);
  }

  Status RunImpl(const void* const* inputs, void* const* outputs, bool native_io) {
    return Guarded("Run", [&]() -> Status {
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
      std::lock_guard<std::mutex> run(run_mu_);
      ApplyPendingDrops();
      const int gear = gear_index_.load();  // this run's gear, whatever SetGear does next
      if (plan_ == nullptr || plan_->gear() != gear) {
        GS_RETURN_IF_ERROR(PrepareForRun(gear));
      } else {
        std::lock_guard<std::mutex> state(state_mu_);
        slots_[gear].last_use = ++tick_;
      }
      const bool profile = profiling_.load();
      if (profile) step_ms_.assign(plan_->steps().size(), 0.0);
      const auto start = std::chrono::steady_clock::now();
      ran_plan_ = nullptr;
      if (native_io && !plan_->int8()) {
        RunFloatGearIo(inputs, outputs, profile);
      } else {
        plan_->Run(inputs, outputs, arena_.data(), &pool_, profile ? step_ms_.data() : nullptr,
                   native_io);
      }
      ran_plan_ = plan_;
      const auto end = std::chrono::steady_clock::now();
      last_latency_ms_.store(std::chrono::duration<double, std::milli>(end - start).count());
      if (profile) {
        std::vector<NodeTime> times(step_ms_.size());
        for (size_t i = 0; i < times.size(); ++i) {  // step i runs node i
          times[i] = {model_.nodes[i].name, OpName(model_.nodes[i].op), step_ms_[i]};
        }
        std::lock_guard<std::mutex> lock(profile_mu_);
        last_profile_ = std::move(times);
      }
      return Status::Ok();
    });
  }

  Status ReadTensor(const std::string& name, std::vector<float>* values, Shape* shape) override {
    return Guarded("ReadTensor", [&]() -> Status {
      if (values == nullptr || shape == nullptr) return InvalidArgument("ReadTensor: null output");
      std::lock_guard<std::mutex> run(run_mu_);
      int t;
      const void* data;
      GS_RETURN_IF_ERROR(KeptTensorLocked("ReadTensor", name, &t, &data));
      *shape = plan_->tensor_shapes()[t];
      const int64_t n = NumElements(*shape);
      if (plan_->tensor_int8(t)) {
        values->resize(static_cast<size_t>(n));
        const ActQuant q = model_.gears[plan_->gear()].activations[t];
        const auto* v = static_cast<const int8_t*>(data);
        for (int64_t i = 0; i < n; ++i) {
          (*values)[i] = q.scale * static_cast<float>(int32_t{v[i]} - q.zero_point);
        }
      } else {
        const auto* v = static_cast<const float*>(data);
        values->assign(v, v + n);
      }
      return Status::Ok();
    });
  }

  Status TensorView(const std::string& name, const float** data, Shape* shape) override {
    return Guarded("TensorView", [&]() -> Status {
      if (data == nullptr || shape == nullptr) return InvalidArgument("TensorView: null output");
      std::lock_guard<std::mutex> run(run_mu_);
      int t;
      const void* p;
      GS_RETURN_IF_ERROR(KeptTensorLocked("TensorView", name, &t, &p));
      if (plan_->tensor_int8(t)) {
        return InvalidArgument("TensorView: gear '" + gears_[plan_->gear()] +
                               "' holds int8 values; ReadTensor dequantizes them");
      }
      *data = static_cast<const float*>(p);
      *shape = plan_->tensor_shapes()[t];
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

  // prepare="all": every gear's weights now, and their plans too when the
  // input shapes are fixed.
  Status PrepareAll() {
    {
      std::lock_guard<std::mutex> state(state_mu_);
      for (size_t g = 0; g < slots_.size(); ++g) {
        GS_RETURN_IF_ERROR(EnsureWeightsLocked(static_cast<int>(g)));
      }
      // Eviction makes room for the gear being prepared; with "all" every
      // gear must fit at once.
      for (size_t g = 0; g < slots_.size(); ++g) {
        if (slots_[g].weights == nullptr) {
          return InvalidArgument("prepare=\"all\": the prepared weights of all gears need " +
                                 std::to_string(AllGearsBytesLocked()) +
                                 " bytes, more than the memory budget of " +
                                 std::to_string(budget_) +
                                 " bytes; raise the budget or use prepare=\"lazy\"");
        }
      }
    }
    std::vector<Shape> shapes;
    for (const TensorInfo& in : inputs_) {
      if (!in.shape.empty() && in.shape[0] < 0) return Status::Ok();  // shapes come later
      shapes.push_back(in.shape);
    }
    std::lock_guard<std::mutex> run(run_mu_);
    return PrepareImpl(gear_index_.load(), shapes);
  }

 private:
  // One gear's prepared state. Plans in cache_ hold `weights` too, so
  // dropping it here frees the memory once those plans are dropped.
  struct Slot {
    std::shared_ptr<const GearWeights> weights;
    int64_t packed = 0;  // packed GEMM bytes of this gear's plans
    uint64_t last_use = 0;
    int64_t bytes() const { return weights ? weights->owned_bytes() + packed : 0; }
  };

  TensorInfo Info(int t) const {
    TensorInfo info;
    const TensorDesc& td = model_.tensors[t];
    info.name = td.name;
    info.shape = td.shape;
    info.dtype = td.io.dtype;  // the interface: float32, or the source model's integers
    info.scale = td.io.scale;
    info.zero_point = td.io.zero_point;
    return info;
  }

  // RunIo in a float gear of a model with an integer interface: its integer
  // inputs dequantized into float staging buffers, its integer outputs
  // computed into others and quantized with the interface parameters (run_mu_
  // held, plan_ prepared).
  void RunFloatGearIo(const void* const* inputs, void* const* outputs, bool profile) {
    const std::vector<Shape>& in_shapes = plan_->input_shapes();
    const std::vector<Shape>& out_shapes = plan_->output_shapes();
    io_in_.resize(inputs_.size());
    io_out_.resize(outputs_.size());
    io_in_ptrs_.assign(inputs, inputs + inputs_.size());
    io_out_ptrs_.assign(outputs, outputs + outputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const IoDesc& io = model_.tensors[model_.inputs[i]].io;
      if (io.dtype == DType::kF32) continue;
      const int64_t n = NumElements(in_shapes[i]);
      io_in_[i].resize(static_cast<size_t>(n));
      IoToF32(io, inputs[i], io_in_[i].data(), n);
      io_in_ptrs_[i] = io_in_[i].data();
    }
    for (size_t i = 0; i < outputs_.size(); ++i) {
      if (model_.tensors[model_.outputs[i]].io.dtype == DType::kF32) continue;
      io_out_[i].resize(static_cast<size_t>(NumElements(out_shapes[i])));
      io_out_ptrs_[i] = io_out_[i].data();
    }
    plan_->Run(io_in_ptrs_.data(), io_out_ptrs_.data(), arena_.data(), &pool_,
               profile ? step_ms_.data() : nullptr);
    for (size_t i = 0; i < outputs_.size(); ++i) {
      const IoDesc& io = model_.tensors[model_.outputs[i]].io;
      if (io.dtype == DType::kF32) continue;
      F32ToIo(io, io_out_[i].data(), outputs[i], static_cast<int64_t>(io_out_[i].size()));
    }
  }

  int64_t PreparedBytesLocked() const {
    int64_t total = 0;
    for (const Slot& s : slots_) total += s.bytes();
    return total;
  }

  // Sum over gears of the bytes known so far (for the prepare="all" message).
  int64_t AllGearsBytesLocked() {
    int64_t total = 0;
    for (size_t g = 0; g < slots_.size(); ++g) {
      std::shared_ptr<const GearWeights> w;
      if (PrepareGearWeights(model_, static_cast<int>(g), &w).ok()) total += w->owned_bytes();
    }
    return total;
  }

  // Makes gear g's weights resident (state_mu_ held), then keeps the total
  // within the budget by dropping least-recently-used other gears.
  Status EnsureWeightsLocked(int g) {
    Slot& slot = slots_[g];
    slot.last_use = ++tick_;
    if (slot.weights != nullptr) return Status::Ok();
    GS_RETURN_IF_ERROR(PrepareGearWeights(model_, g, &slot.weights));
    return EnforceBudgetLocked(g);
  }

  Status EnforceBudgetLocked(int keep) {
    if (budget_ <= 0) return Status::Ok();
    while (PreparedBytesLocked() > budget_) {
      int lru = -1;
      for (size_t g = 0; g < slots_.size(); ++g) {
        if (static_cast<int>(g) == keep || slots_[g].weights == nullptr) continue;
        if (lru < 0 || slots_[g].last_use < slots_[lru].last_use) lru = static_cast<int>(g);
      }
      if (lru < 0) {
        const Slot& s = slots_[keep];
        const int64_t owned = s.weights->owned_bytes(), packed = s.packed;
        DropSlotLocked(keep);
        return InvalidArgument(
            "gear '" + gears_[keep] + "' needs " + std::to_string(owned + packed) +
            " bytes of prepared weights (" + std::to_string(owned) + " derived, " +
            std::to_string(packed) + " packed for the kernels), more than the memory budget of " +
            std::to_string(budget_) + " bytes; raise the budget or pick a smaller gear");
      }
      DropSlotLocked(lru);
    }
    return Status::Ok();
  }

  void DropSlotLocked(int g) {
    slots_[g].weights.reset();
    slots_[g].packed = 0;
    pending_drop_.push_back(g);
  }

  // Forgets the plans of evicted gears (run_mu_ held), except those of
  // `keep`: GetPlan is about to hand out one of them, and a SetGear on
  // another thread may have evicted that gear meanwhile; its drop waits for
  // the next run.
  void ApplyPendingDrops(int keep = -1) {
    std::vector<int> drops;
    {
      std::lock_guard<std::mutex> state(state_mu_);
      drops.swap(pending_drop_);
      for (int g : drops) {
        if (g == keep) pending_drop_.push_back(g);
      }
    }
    for (int g : drops) {
      if (g == keep) continue;
      if (plan_ != nullptr && plan_->gear() == g) plan_ = nullptr;
      cache_.DropGear(g);
    }
  }

  // Builds (or finds) the plan of `gear` for `input_shapes` and makes it
  // current (run_mu_ held).
  Status PrepareImpl(int gear, const std::vector<Shape>& input_shapes) {
    ApplyPendingDrops();
    Plan* plan = nullptr;
    GS_RETURN_IF_ERROR(GetPlan(gear, input_shapes, &plan));
    if (prepare_all_ && !(all_prepared_ && SameShapes(all_shapes_, input_shapes))) {
      // Every gear gets its plan for these shapes now, so a switch costs no
      // planning or packing later.
      for (size_t g = 0; g < slots_.size(); ++g) {
        if (static_cast<int>(g) == gear) continue;
        Plan* other = nullptr;
        GS_RETURN_IF_ERROR(GetPlan(static_cast<int>(g), input_shapes, &other));
      }
      // Other gears' plans may have evicted this one from the cache.
      GS_RETURN_IF_ERROR(GetPlan(gear, input_shapes, &plan));
      all_prepared_ = true;
      all_shapes_ = input_shapes;
    }
    try {
      arena_.Reserve(static_cast<size_t>(plan->arena_bytes()));
    } catch (const std::bad_alloc&) {
      plan_ = nullptr;  // the cache may have evicted the old plan
      return Internal("out of memory allocating a " + std::to_string(plan->arena_bytes()) +
                      "-byte activation arena");
    }
    plan_ = plan;
    ran_plan_ = nullptr;  // the arena no longer holds a run of plan_
    arena_bytes_.store(plan->arena_bytes());
    prepared_ = true;
    prepared_shapes_ = input_shapes;
    output_shapes_ = plan->output_shapes();
    return Status::Ok();
  }

  // The cached plan of (gear, shapes), its weights prepared and the budget
  // kept (run_mu_ held).
  Status GetPlan(int gear, const std::vector<Shape>& input_shapes, Plan** plan) {
    std::shared_ptr<const GearWeights> weights;
    {
      std::lock_guard<std::mutex> state(state_mu_);
      GS_RETURN_IF_ERROR(EnsureWeightsLocked(gear));
      weights = slots_[gear].weights;
    }
    ApplyPendingDrops();
    // A plan that was current may be evicted from the cache by this Get.
    plan_ = nullptr;
    GS_RETURN_IF_ERROR(cache_.Get(model_, weights, input_shapes, plan));
    Status budget;
    {
      std::lock_guard<std::mutex> state(state_mu_);
      Slot& slot = slots_[gear];
      if (slot.weights == weights) {
        slot.packed = std::max(slot.packed, (*plan)->packed_bytes());
        budget = EnforceBudgetLocked(gear);
      }
    }
    // Not *plan's gear: dropping it would free the plan returned here.
    ApplyPendingDrops(gear);
    if (!budget.ok()) *plan = nullptr;
    return budget;
  }

  // keep_tensors: tensor `name`'s index and where the last Run of the
  // current plan left its values (run_mu_ held).
  Status KeptTensorLocked(const char* where, const std::string& name, int* t, const void** data) {
    if (!keep_tensors_) {
      return InvalidArgument(std::string(where) + ": open the runtime with keep_tensors to read '" +
                             name + "'");
    }
    // The arena holds ran_plan_'s tensors until another plan runs or is
    // prepared (PrepareImpl resets it).
    if (ran_plan_ == nullptr || ran_plan_ != plan_) {
      return InvalidArgument(std::string(where) + ": no Run of the current plan yet");
    }
    *t = -1;
    for (size_t i = 0; i < model_.tensors.size() && *t < 0; ++i) {
      if (model_.tensors[i].name == name) *t = static_cast<int>(i);
    }
    if (*t < 0) return InvalidArgument(std::string(where) + ": no tensor named '" + name + "'");
    *data = plan_->TensorData(*t, arena_.data());
    if (*data == nullptr) {
      return InvalidArgument(std::string(where) + ": '" + name +
                             "' is a constant or a graph input (the values passed to Run)");
    }
    return Status::Ok();
  }

  static bool SameShapes(const std::vector<Shape>& a, const std::vector<Shape>& b) {
    return a == b;
  }

  // Run without a plan for `gear`: reuse the last prepared shapes, or the
  // declared ones when no input has a batch wildcard (run_mu_ held).
  Status PrepareForRun(int gear) {
    if (prepared_) return PrepareImpl(gear, prepared_shapes_);
    std::vector<Shape> shapes;
    for (const TensorInfo& in : inputs_) {
      if (!in.shape.empty() && in.shape[0] < 0) {
        return InvalidArgument("Run: call Prepare() first: input '" + in.name +
                               "' has shape " + ShapeToString(in.shape) +
                               " with a batch wildcard");
      }
      shapes.push_back(in.shape);
    }
    return PrepareImpl(gear, shapes);
  }

  std::unique_ptr<GearFile> file_;
  const ModelDesc& model_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<std::string> gears_;
  std::atomic<int> gear_index_;
  ThreadPool pool_;
  std::string isa_;
  const bool prepare_all_;
  const int64_t budget_;  // bytes; <= 0: unlimited
  const bool keep_tensors_;  // RuntimeOptions::keep_tensors

  std::mutex run_mu_;  // guards everything below up to state_mu_
  PlanCache cache_;
  Plan* plan_ = nullptr;   // owned by cache_
  Plan* ran_plan_ = nullptr;     // keep_tensors: the plan whose run the arena holds
  std::vector<double> step_ms_;  // a profiled run's step times
  bool integer_io_ = false;      // some input/output has an integer interface
  // RunFloatGearIo's staging: float values of integer-interface tensors.
  std::vector<std::vector<float>> io_in_, io_out_;
  std::vector<const void*> io_in_ptrs_;
  std::vector<void*> io_out_ptrs_;
  bool prepared_ = false;  // a Prepare succeeded; prepared_shapes_ is valid
  std::vector<Shape> prepared_shapes_;
  bool all_prepared_ = false;  // prepare="all": every gear planned for all_shapes_
  std::vector<Shape> all_shapes_;
  std::vector<Shape> output_shapes_;
  AlignedBuffer arena_;

  mutable std::mutex state_mu_;  // guards slots_, pending_drop_, tick_
  std::vector<Slot> slots_;
  std::vector<int> pending_drop_;  // gears whose plans cache_ must forget
  uint64_t tick_ = 0;

  std::atomic<int64_t> arena_bytes_{0};
  std::atomic<double> last_latency_ms_{0.0};
  std::atomic<bool> profiling_{false};
  mutable std::mutex profile_mu_;  // guards last_profile_
  std::vector<NodeTime> last_profile_;
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
    if (options.prepare != "lazy" && options.prepare != "all") {
      return InvalidArgument("prepare must be \"lazy\" or \"all\", got \"" + options.prepare +
                             "\"");
    }
    if (options.memory_budget_bytes < 0) {
      return InvalidArgument("memory_budget_bytes must be >= 0 (0: unlimited), got " +
                             std::to_string(options.memory_budget_bytes));
    }
    GS_RETURN_IF_ERROR(ValidateOpenable(*file));
    const ModelDesc& model = file->model();
    int gear = 0;
    if (!options.gear.empty()) {
      GS_RETURN_IF_ERROR(RuntimeImpl::FindGear(model, options.gear, &gear));
    }
    KernelTable kernels;
    GS_RETURN_IF_ERROR(BuildKernelTable(options.isa, &kernels));
    auto rt = std::make_unique<RuntimeImpl>(std::move(file), gear, options.threads,
                                            std::move(kernels), options.prepare == "all",
                                            options.memory_budget_bytes, options.keep_tensors);
    if (options.prepare == "all") GS_RETURN_IF_ERROR(rt->PrepareAll());
    *out = std::move(rt);
    return Status::Ok();
  });
}

Status ValidateOpenable(const GearFile& file) {
  // The reader already refuses a manifest without gears; a GearFile built
  // another way (CreateRuntime's callers) must not reach the planner without one.
  if (file.model().gears.empty()) return FormatError("file has no gears");
  return Status::Ok();
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
