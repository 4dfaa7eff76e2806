// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// pybind11 bindings of the power sources and the shift controller
// (runtime_cpp/include/gearshift/power.h, shifter.h): translation only. The
// Python facades (gearshift/power.py, gearshift/shifter.py) own the Python
// side: PowerState dataclasses, warnings, the run loop over gs.Runtime.
// Registered into _core by RegisterShift (called from _core.cc).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gearshift/power.h"
#include "gearshift/shifter.h"

namespace py = pybind11;

namespace gearshift {
namespace {

py::object Opt(const std::optional<double>& v) { return v ? py::cast(*v) : py::none(); }
py::object Opt(const std::optional<bool>& v) { return v ? py::cast(*v) : py::none(); }

py::dict StateDict(const PowerState& s) {
  py::dict d;
  d["charge_pct"] = Opt(s.charge_pct);
  d["charging"] = Opt(s.charging);
  d["power_w"] = Opt(s.power_w);
  d["temp_c"] = Opt(s.temp_c);
  d["throttled"] = Opt(s.throttled);
  d["under_voltage"] = Opt(s.under_voltage);
  return d;
}

// Reads the fields of a dict (or any object with those attributes, such as
// gearshift.power.PowerState); missing or None fields stay unset.
PowerState StateFrom(const py::handle& obj) {
  PowerState s;
  if (obj.is_none()) return s;
  const bool is_dict = py::isinstance<py::dict>(obj);
  auto get = [&](const char* key) -> py::object {
    if (is_dict) {
      py::dict d = py::reinterpret_borrow<py::dict>(obj);
      return d.contains(key) ? py::object(d[key]) : py::object(py::none());
    }
    return py::getattr(obj, key, py::none());
  };
  auto number = [&](const char* key) -> std::optional<double> {
    py::object v = get(key);
    if (v.is_none()) return std::nullopt;
    const double x = v.cast<double>();
    if (!std::isfinite(x)) return std::nullopt;
    return x;
  };
  auto flag = [&](const char* key) -> std::optional<bool> {
    py::object v = get(key);
    if (v.is_none()) return std::nullopt;
    return py::bool_(v).cast<bool>();
  };
  s.charge_pct = number("charge_pct");
  s.charging = flag("charging");
  s.power_w = number("power_w");
  s.temp_c = number("temp_c");
  s.throttled = flag("throttled");
  s.under_voltage = flag("under_voltage");
  return s;
}

void Check(const Status& s) {
  if (s.ok()) return;
  if (PyErr_Occurred()) throw py::error_already_set();  // raised by a Python callback
  if (s.code() == StatusCode::kNotFound) {
    PyErr_SetString(PyExc_FileNotFoundError, s.message().c_str());
    throw py::error_already_set();
  }
  if (s.code() == StatusCode::kIoError) {
    PyErr_SetString(PyExc_OSError, s.message().c_str());
    throw py::error_already_set();
  }
  throw py::value_error(s.message());
}

// One C++ source; read() returns (state dict, error message or None) and
// never raises, because a source must never stop inference.
class PySource {
 public:
  explicit PySource(std::unique_ptr<PowerSource> source) : source_(std::move(source)) {}
  py::tuple Read() {
    PowerState s;
    const Status st = source_->Read(&s);
    return py::make_tuple(StateDict(s), st.ok() ? py::object(py::none()) : py::cast(st.message()));
  }
  std::string Describe() const { return source_->Describe(); }

 private:
  std::unique_ptr<PowerSource> source_;
};

// A Python callable as a ShiftPolicy. The callable (gearshift.shifter's
// adapter) takes the context as a dict and returns (gear, reason). A Python
// exception is left set and surfaces from decide().
class PyPolicy : public ShiftPolicy {
 public:
  explicit PyPolicy(py::function fn) : fn_(std::move(fn)) {}
  Status Choose(const ShiftContext& ctx, ShiftDecision* d) override {
    try {
      py::dict c;
      c["now_s"] = ctx.now_s;
      c["gears"] = py::tuple(py::cast(*ctx.gears));
      c["current"] = ctx.current < 0 ? py::object(py::none()) : py::cast((*ctx.gears)[ctx.current]);
      c["since_switch_s"] = ctx.since_switch_s;
      py::list pred;
      for (double p : ctx.predicted_ms)
        pred.append(std::isnan(p) ? py::object(py::none()) : py::cast(p));
      c["predicted_ms"] = pred;
      c["latency_budget_ms"] = ctx.latency_budget_ms;
      c["power"] = StateDict(ctx.power);
      py::tuple r = fn_(c).cast<py::tuple>();
      d->gear = r[0].cast<std::string>();
      d->reason = r[1].cast<std::string>();
      return Status::Ok();
    } catch (py::error_already_set& e) {
      e.restore();
      return Status(StatusCode::kInternal, "the policy raised");
    } catch (const py::cast_error& e) {
      return InvalidArgument(std::string("the policy must return (gear, reason): ") + e.what());
    }
  }

 private:
  py::function fn_;
};

py::dict EntryDict(const ShiftLogEntry& e) {
  py::dict d = StateDict(e.power);
  d["time_s"] = e.time_s;
  d["gear"] = e.gear;
  d["reason"] = e.reason;
  d["switched"] = e.switched;
  d["latency_ms"] = e.latency_ms < 0 ? py::object(py::none()) : py::cast(e.latency_ms);
  d["energy_j"] = Opt(e.energy_j);
  return d;
}

std::unique_ptr<ShiftController> MakeController(const std::vector<std::string>& gears,
                                                const py::dict& kw) {
  ShifterOptions o;
  for (auto item : kw) {
    const std::string k = item.first.cast<std::string>();
    py::handle v = item.second;
    if (k == "latency_budget_ms")
      o.latency_budget_ms = v.cast<double>();
    else if (k == "battery_thresholds_pct")
      o.battery_thresholds_pct = v.cast<std::vector<double>>();
    else if (k == "battery_floor_pct")
      o.battery_floor_pct = v.cast<double>();
    else if (k == "battery_hysteresis_pct")
      o.battery_hysteresis_pct = v.cast<double>();
    else if (k == "temp_step_down_c")
      o.temp_step_down_c = v.cast<double>();
    else if (k == "temp_cheapest_c")
      o.temp_cheapest_c = v.cast<double>();
    else if (k == "temp_hysteresis_c")
      o.temp_hysteresis_c = v.cast<double>();
    else if (k == "upshift_margin")
      o.upshift_margin = v.cast<double>();
    else if (k == "min_dwell_s")
      o.min_dwell_s = v.cast<double>();
    else if (k == "ewma_alpha")
      o.ewma_alpha = v.cast<double>();
    else if (k == "probe_runs")
      o.probe_runs = v.cast<int>();
    else if (k == "power_interval_s")
      o.power_interval_s = v.cast<double>();
    else if (k == "log_capacity")
      o.log_capacity = v.cast<size_t>();
    else
      throw py::value_error("shifter: unknown option '" + k + "'");
  }
  std::unique_ptr<ShiftController> c;
  Check(ShiftController::Create(gears, o, &c));
  return c;
}

}  // namespace
}  // namespace gearshift

void RegisterShift(py::module_& m) {
  using namespace gearshift;  // NOLINT: one binding function

  py::class_<PySource>(m, "PowerSource", "A C++ power/thermal source (gearshift.power wraps it).")
      .def("read", &PySource::Read, "(state dict, error message or None); never raises")
      .def("describe", &PySource::Describe);
  m.def("power_supply_source", [](const std::string& root) {
    return PySource(std::make_unique<PowerSupplySource>(root));
  });
  m.def("jetson_source", [](const std::string& root) {
    return PySource(std::make_unique<JetsonPowerSource>(root));
  });
  m.def(
      "rpi_source",
      [](const std::string& root, py::object runner) {
        RpiThrottleSource::CommandRunner r;
        if (!runner.is_none()) {
          r = [runner](const std::string& cmd) -> std::optional<std::string> {
            py::gil_scoped_acquire gil;
            try {
              py::object out = runner(cmd);
              if (out.is_none()) return std::nullopt;
              return out.cast<std::string>();
            } catch (const std::exception&) {
              return std::nullopt;  // a failing runner is an unreadable source
            }
          };
        }
        return PySource(std::make_unique<RpiThrottleSource>(root, r));
      },
      py::arg("root"), py::arg("runner") = py::none());
  m.def("thermal_source", [](const std::string& root, const std::string& zone_type) {
    return PySource(std::make_unique<ThermalSource>(root, zone_type));
  });
  m.def("power_detect", [](const std::string& root) {
    // The kinds AutoDetect would add, in its order.
    std::vector<std::string> kinds;
    const std::string d = AutoDetect(root)->Describe();
    for (const char* k : {"power_supply(", "jetson_ina3221(", "rpi_throttle(", "thermal("}) {
      if (d.find(k) != std::string::npos) kinds.emplace_back(k, std::string(k).size() - 1);
    }
    return kinds;
  });
  m.def("shift_dominated_by", &DominatedBy, py::arg("predicted_ms"),
        "Per gear (precision order; NaN = unknown): the index of the more precise gear that "
        "dominates it under the default policy's ladder rule, or -1.");
  m.def(
      "trace_parse",
      [](const std::string& text, const std::string& name) {
        std::vector<TraceSource::Row> rows;
        Check(TraceSource::Parse(text, name, &rows));
        py::list out;
        for (const auto& r : rows) {
          out.append(py::make_tuple(r.time_s, r.charge_pct, r.charging,
                                    r.temp_c ? py::cast(*r.temp_c) : py::object(py::none())));
        }
        return out;
      },
      "Rows (time_s, charge_pct, charging, temp_c or None) of a trace CSV; ValueError names the "
      "line.");

  py::class_<ShiftController>(m, "ShiftController", "The policy engine (gearshift.Shifter).")
      .def(py::init(&MakeController), py::arg("gears"), py::arg("options") = py::dict())
      .def("set_policy",
           [](ShiftController& c, py::object fn) {
             if (fn.is_none()) {
               c.SetPolicy(nullptr);
             } else {
               c.SetPolicy(std::make_unique<PyPolicy>(fn.cast<py::function>()));
             }
           })
      .def("seed",
           [](ShiftController& c, const std::string& g, double ms) { Check(c.Seed(g, ms)); })
      .def("seed_from_benchmark",
           [](ShiftController& c, const std::string& text) { Check(c.SeedFromBenchmark(text)); })
      .def("unseeded", &ShiftController::Unseeded)
      .def("decide",
           [](ShiftController& c, double now, py::object power) {
             ShiftDecision d;
             Check(c.Decide(now, StateFrom(power), &d));
             return py::make_tuple(d.gear, d.reason);
           })
      .def("observe", [](ShiftController& c, double ms) { Check(c.Observe(ms)); })
      .def("measure",
           [](ShiftController& c, const std::string& g, double ms) { Check(c.Measure(g, ms)); })
      .def("predicted",
           [](const ShiftController& c) {
             py::list out;
             for (double p : c.Predicted()) {
               out.append(std::isnan(p) ? py::object(py::none()) : py::cast(p));
             }
             return out;
           })
      .def("stats",
           [](const ShiftController& c) {
             py::list out;
             for (const GearStats& s : c.stats()) {
               py::dict d;
               d["gear"] = s.gear;
               d["runs"] = s.runs;
               d["ewma_ms"] = s.ewma_ms < 0 ? py::object(py::none()) : py::cast(s.ewma_ms);
               d["base_ms"] = s.base_ms < 0 ? py::object(py::none()) : py::cast(s.base_ms);
               d["predicted_ms"] =
                   s.predicted_ms < 0 ? py::object(py::none()) : py::cast(s.predicted_ms);
               d["energy_j_per_run"] =
                   s.energy_runs ? py::cast(s.energy_j_mean()) : py::object(py::none());
               d["energy_runs"] = s.energy_runs;
               out.append(d);
             }
             return out;
           })
      .def(
          "log",
          [](const ShiftController& c, size_t start) {
            py::list out;
            const auto& log = c.log();
            for (size_t i = start; i < log.size(); ++i) out.append(EntryDict(log[i]));
            return out;
          },
          py::arg("start") = 0)
      .def("clear_log", &ShiftController::ClearLog)
      .def_property_readonly(
          "gears", [](const ShiftController& c) { return py::tuple(py::cast(c.gears())); })
      .def_property_readonly("current", &ShiftController::current)
      .def_property_readonly("load", &ShiftController::load);
}
