// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// gearshift::Shifter: the ShiftController driven over a Runtime for on-board
// C++ programs. The Python Shifter (python/gearshift/shifter.py) is the same
// loop over the same controller, with Python power sources.
#include "gearshift/shifter.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace gearshift {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Status Shifter::Create(Runtime* runtime, const ShifterOptions& options,
                       std::unique_ptr<PowerSource> power, Clock clock,
                       std::unique_ptr<Shifter>* out, WarningHandler on_warning) {
  if (runtime == nullptr) return InvalidArgument("shifter: runtime is null");
  std::unique_ptr<Shifter> s(new Shifter());
  GS_RETURN_IF_ERROR(ShiftController::Create(runtime->gears(), options, &s->controller_));
  s->runtime_ = runtime;
  s->power_ = std::move(power);
  s->clock_ = clock ? std::move(clock) : Clock(SteadySeconds);
  s->on_warning_ = on_warning ? std::move(on_warning) : [](const std::string& m) {
    std::fprintf(stderr, "gearshift: warning: %s\n", m.c_str());
  };
  *out = std::move(s);
  return Status::Ok();
}

void Shifter::ReadPower(double now_s) {
  if (power_ == nullptr) return;
  if (power_read_once_ && now_s - last_power_read_s_ < controller_->options().power_interval_s) {
    return;
  }
  power_read_once_ = true;
  last_power_read_s_ = now_s;
  PowerState state;
  const Status s = power_->Read(&state);
  if (!s.ok()) {
    // Inference goes on: the policy falls back to latency alone. Said once,
    // not at every run.
    power_state_ = PowerState();
    if (!power_warned_) {
      power_warned_ = true;
      const std::string m = "power source " + power_->Describe() + " unreadable (" + s.message() +
                            "); shifting on latency alone";
      warnings_.push_back(m);
      on_warning_(m);
    }
    return;
  }
  power_state_ = state;
}

Status Shifter::Probe(const void* const* inputs, void* const* outputs) {
  const ShifterOptions& o = controller_->options();
  const std::string start = runtime_->gear();
  for (const std::string& g : controller_->Unseeded()) {
    GS_RETURN_IF_ERROR(runtime_->SetGear(g));
    GS_RETURN_IF_ERROR(runtime_->Run(inputs, outputs));  // warm-up: caches, plan
    std::vector<double> ms;
    for (int r = 0; r < o.probe_runs; ++r) {
      GS_RETURN_IF_ERROR(runtime_->Run(inputs, outputs));
      ms.push_back(runtime_->last_latency_ms());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    if (median > 0) GS_RETURN_IF_ERROR(controller_->Seed(g, median));
  }
  return runtime_->SetGear(start);
}

Status Shifter::Run(const std::vector<Shape>& input_shapes, const void* const* inputs,
                    void* const* outputs) {
  GS_RETURN_IF_ERROR(runtime_->Prepare(input_shapes));
  if (!probed_) {
    probed_ = true;
    if (controller_->options().probe_runs > 0) GS_RETURN_IF_ERROR(Probe(inputs, outputs));
  }
  const double now = clock_();
  ReadPower(now);
  ShiftDecision d;
  GS_RETURN_IF_ERROR(controller_->Decide(now, power_state_, &d));
  GS_RETURN_IF_ERROR(runtime_->SetGear(d.gear));
  GS_RETURN_IF_ERROR(runtime_->Run(inputs, outputs));
  return controller_->Observe(runtime_->last_latency_ms());
}

}  // namespace gearshift
