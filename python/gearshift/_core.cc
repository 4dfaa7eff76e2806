// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// pybind11 bindings: translation only. Status becomes gearshift.FormatError,
// FileNotFoundError or ValueError; numpy buffers go in and out without copies
// where the layout allows; the GIL is released while kernels run (ncnn's
// extract keeps it, which serialises every Python thread behind inference).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dispatch.h"
#include "format/crc32c.h"
#include "format/model_desc.h"
#include "gearshift/gearshift.h"
#include "kernels/q8_gemm/q8_gemm.h"
#include "runtime_impl.h"

namespace py = pybind11;
using gearshift::Status;
using gearshift::StatusCode;

namespace {

[[noreturn]] void Raise(const Status& s) {
  switch (s.code()) {
    case StatusCode::kFormatError:
    case StatusCode::kUnsupported: {
      py::object err = py::module_::import("gearshift.errors").attr("FormatError");
      PyErr_SetString(err.ptr(), s.message().c_str());
      throw py::error_already_set();
    }
    case StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, s.message().c_str());
      throw py::error_already_set();
    case StatusCode::kIoError:
      PyErr_SetString(PyExc_OSError, s.message().c_str());
      throw py::error_already_set();
    case StatusCode::kInternal:
      throw std::runtime_error(s.message());
    default:
      throw py::value_error(s.message());
  }
}

void Check(const Status& s) {
  if (!s.ok()) Raise(s);
}

const char* DTypeName(gearshift::DType d) {
  switch (d) {
    case gearshift::DType::kI8:
      return "int8";
    case gearshift::DType::kU8:
      return "uint8";
    default:
      return "float32";
  }
}

// [(name, shape, interface dtype, scale, zero point)]; scale 0 for float32.
py::list SpecList(const std::vector<gearshift::TensorInfo>& infos) {
  py::list out;
  for (const auto& t : infos) {
    py::list shape;
    for (int64_t d : t.shape) shape.append(d);
    out.append(py::make_tuple(t.name, py::tuple(shape), DTypeName(t.dtype), t.scale, t.zero_point));
  }
  return out;
}

// A C-contiguous array of the dtype `d` (RunIo's buffers; float32 for Run).
bool IsBuffer(const py::array& a, gearshift::DType d) {
  if (!(a.flags() & py::array::c_style)) return false;
  switch (d) {
    case gearshift::DType::kI8:
      return py::isinstance<py::array_t<int8_t>>(a);
    case gearshift::DType::kU8:
      return py::isinstance<py::array_t<uint8_t>>(a);
    default:
      return py::isinstance<py::array_t<float>>(a);
  }
}

py::array NewArray(gearshift::DType d, const gearshift::Shape& shape) {
  switch (d) {
    case gearshift::DType::kI8:
      return py::array_t<int8_t>(shape);
    case gearshift::DType::kU8:
      return py::array_t<uint8_t>(shape);
    default:
      return py::array_t<float>(shape);
  }
}

std::string ShapeStr(const gearshift::Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

// Owns one gearshift::Runtime. The runtime is thread-safe; mu_ only keeps
// one thread's Prepare, output_shapes and Run together. Locks are taken
// with the GIL released (a thread holding mu_ needs the GIL to finish).
class PyRuntime {
 public:
  PyRuntime(const std::string& path, const std::string& gear, int threads, bool verify_checksums,
            bool use_mmap, const std::string& isa, const std::string& prepare,
            int64_t memory_budget_bytes, bool keep_tensors) {
    gearshift::RuntimeOptions opt;
    opt.keep_tensors = keep_tensors;
    opt.isa = isa;
    opt.prepare = prepare;
    opt.memory_budget_bytes = memory_budget_bytes;
    opt.gear = gear;
    opt.threads = threads;
    opt.verify_checksums = verify_checksums;
    opt.use_mmap = use_mmap;
    Status s;
    {
      py::gil_scoped_release nogil;
      s = gearshift::Runtime::Open(path, opt, &rt_);
    }
    Check(s);
  }

  py::list inputs() const { return SpecList(rt_->inputs()); }
  py::list outputs() const { return SpecList(rt_->outputs()); }
  py::tuple gears() const { return py::cast(rt_->gears()); }
  std::string gear() const { return rt_->gear(); }
  // No mu_: a switch never waits for a run (that run finishes in its gear).
  void set_gear(const std::string& g) {
    Status s;
    {
      py::gil_scoped_release nogil;  // the first switch may prepare weights
      s = rt_->SetGear(g);
    }
    Check(s);
  }
  int64_t prepared_bytes() const { return rt_->prepared_bytes(); }
  double last_latency_ms() const { return rt_->last_latency_ms(); }
  bool profiling() const { return profiling_; }
  void set_profiling(bool on) {
    rt_->SetProfiling(on);
    profiling_ = on;
  }
  // [(node name, op, ms)] of the last profiled run, in execution order.
  py::list last_profile() const {
    py::list out;
    for (const gearshift::NodeTime& t : rt_->last_profile()) out.append(py::make_tuple(t.name, t.op, t.ms));
    return out;
  }
  int64_t arena_bytes() const { return rt_->arena_bytes(); }
  // keep_tensors: tensor `name`'s values after the last run, float32.
  py::array ReadTensor(const std::string& name) {
    std::vector<float> values;
    gearshift::Shape shape;
    Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      s = rt_->ReadTensor(name, &values, &shape);
    }
    Check(s);
    // The array takes the vector's memory: no second copy.
    auto held = std::make_unique<std::vector<float>>(std::move(values));
    py::capsule owner(held.get(), [](void* p) { delete static_cast<std::vector<float>*>(p); });
    const float* data = held.release()->data();  // owner frees it from here on
    return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()), data, owner);
  }
  // keep_tensors, float gears: a read-only view of tensor `name` in the
  // arena. Internal (calibration): it dangles after the next run, so the
  // caller must be done with it before running again.
  py::array TensorView(py::object self, const std::string& name) {
    const float* data = nullptr;
    gearshift::Shape shape;
    Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      s = rt_->TensorView(name, &data, &shape);
    }
    Check(s);
    py::array_t<float> view(std::vector<py::ssize_t>(shape.begin(), shape.end()), data, self);
    py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return view;
  }
  int threads() const { return rt_->threads(); }
  std::string isa() const { return rt_->isa(); }

  // inputs: C-contiguous arrays, one per graph input, in order (the Python
  // facade converts and checks dtypes): float32, or with native_io each in
  // its interface dtype (int8/uint8 where the model's is). out: optional
  // arrays to write into. Returns the output arrays.
  py::list Run(const std::vector<py::array>& inputs, py::object out, bool native_io) {
    const auto& specs = rt_->inputs();
    const auto& out_specs = rt_->outputs();
    auto dtype = [native_io](const gearshift::TensorInfo& t) {
      return native_io ? t.dtype : gearshift::DType::kF32;
    };
    if (inputs.size() != specs.size()) {
      throw py::value_error("expected " + std::to_string(specs.size()) + " input(s), got " +
                            std::to_string(inputs.size()));
    }
    std::vector<gearshift::Shape> shapes;
    std::vector<const void*> in_ptrs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const py::array& a = inputs[i];
      if (!IsBuffer(a, dtype(specs[i]))) {
        throw py::value_error("input '" + specs[i].name + "': expected a C-contiguous " +
                              DTypeName(dtype(specs[i])) + " array");
      }
      gearshift::Shape shape(a.shape(), a.shape() + a.ndim());
      shapes.push_back(shape);
      in_ptrs.push_back(a.data());
    }
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    Status prepared;
    {
      py::gil_scoped_release nogil;
      lock.lock();
      prepared = rt_->Prepare(shapes);  // may prepare a gear's weights: no GIL
    }
    Check(prepared);
    const auto& out_shapes = rt_->output_shapes();
    std::vector<py::array> outs;
    if (out.is_none()) {
      for (size_t i = 0; i < out_shapes.size(); ++i) {
        outs.push_back(NewArray(dtype(out_specs[i]), out_shapes[i]));
      }
    } else {
      auto given = out.cast<std::vector<py::array>>();
      if (given.size() != out_shapes.size()) {
        throw py::value_error("out: expected " + std::to_string(out_shapes.size()) +
                              " array(s), got " + std::to_string(given.size()));
      }
      for (size_t i = 0; i < given.size(); ++i) {
        const py::array& a = given[i];
        gearshift::Shape shape(a.shape(), a.shape() + a.ndim());
        if (!IsBuffer(a, dtype(out_specs[i])) || !a.writeable() || shape != out_shapes[i]) {
          throw py::value_error(
              "out[" + std::to_string(i) + "]: expected a writeable C-contiguous " +
              DTypeName(dtype(out_specs[i])) + " array of shape " + ShapeStr(out_shapes[i]));
        }
        outs.push_back(a);
      }
    }
    std::vector<void*> out_ptrs;
    for (auto& o : outs) out_ptrs.push_back(o.mutable_data());
    Status s;
    {
      py::gil_scoped_release nogil;
      s = native_io ? rt_->RunIo(in_ptrs.data(), out_ptrs.data())
                    : rt_->Run(in_ptrs.data(), out_ptrs.data());
    }
    Check(s);
    py::list result;
    for (auto& o : outs) result.append(o);
    return result;
  }

  py::tuple OutputShapes(const std::vector<gearshift::Shape>& input_shapes) {
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    Status s;
    {
      py::gil_scoped_release nogil;
      lock.lock();
      s = rt_->Prepare(input_shapes);
    }
    Check(s);
    py::list r;
    for (const auto& s : rt_->output_shapes()) r.append(py::tuple(py::cast(s)));
    return py::tuple(r);
  }

 private:
  std::unique_ptr<gearshift::Runtime> rt_;
  bool profiling_ = false;
  std::mutex mu_;
};

// What Runtime::Open does to accept a file, without building a runtime: the
// reader (GearFile: FORMAT.md section 3, steps 1-3) and the runtime's own
// open-time checks (ValidateOpenable). `data` (bytes-like) is validated as
// given, so a caller that decodes those bytes afterwards decodes exactly what
// was checked; `path` is mapped as Runtime maps it. Runs without the GIL.
Status ValidateGear(const uint8_t* data, size_t size, const std::string* path,
                    bool verify_checksums) {
  gearshift::GearFile::Options options;
  options.verify_checksums = verify_checksums;
  try {
    std::unique_ptr<gearshift::GearFile> file;
    Status s = path != nullptr ? gearshift::GearFile::Open(*path, options, &file)
                               : gearshift::GearFile::FromBuffer(data, size, options, &file);
    if (!s.ok()) return s;
    return gearshift::ValidateOpenable(*file);
  } catch (const std::exception& e) {
    // Runtime::Open turns escaping exceptions (bad_alloc) into kInternal too.
    return Status(StatusCode::kInternal, std::string("validate_gear: ") + e.what());
  }
}

}  // namespace

void RegisterShift(pybind11::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "gearshift C++ runtime (internal; use gearshift.Runtime)";
  RegisterShift(m);
  m.attr("__version__") = gearshift::kVersion;
  m.attr("FORMAT_MAJOR") = gearshift::kFormatMajor;
  m.attr("FORMAT_MINOR") = gearshift::kFormatMinor;

  m.def(
      "crc32c",
      [](py::buffer b, uint32_t crc) {
        py::buffer_info info = b.request();
        const auto n = static_cast<size_t>(info.size * info.itemsize);
        py::gil_scoped_release nogil;
        return gearshift::Crc32c(info.ptr, n, crc);
      },
      py::arg("data"), py::arg("crc") = 0u,
      "CRC-32C (Castagnoli) of a bytes-like object, continuing from `crc`.");

  m.def(
      "validate_gear",
      [](py::object source, bool verify_checksums) {
        Status s;
        if (py::isinstance<py::str>(source) ||
            py::isinstance(source, py::module_::import("os").attr("PathLike"))) {
          const std::string path = py::str(py::module_::import("os").attr("fspath")(source));
          py::gil_scoped_release nogil;
          s = ValidateGear(nullptr, 0, &path, verify_checksums);
        } else {
          // The buffer export pins the object (a bytearray cannot resize)
          // while the GIL is released.
          py::buffer_info info = py::buffer(source).request();
          if (!PyBuffer_IsContiguous(info.view(), 'C')) {
            throw py::value_error("validate_gear: expected a contiguous bytes-like object");
          }
          const auto n = static_cast<size_t>(info.size * info.itemsize);
          py::gil_scoped_release nogil;
          s = ValidateGear(static_cast<const uint8_t*>(info.ptr), n, nullptr, verify_checksums);
        }
        Check(s);
      },
      py::arg("source"), py::arg("verify_checksums") = true,
      "Validates a .gear file (a path, or its bytes) exactly as gearshift.Runtime does "
      "when it opens one, without building a runtime; raises gearshift.FormatError "
      "(FileNotFoundError, OSError) with the runtime's message. verify_checksums=False "
      "skips the data sections' CRC, as Runtime's option of the same name.");

  m.def("runtime_info", []() {
    gearshift::RuntimeInfo info = gearshift::GetRuntimeInfo();
    py::dict d;
    d["version"] = info.version;
    // Every minor of the major is read (a 1.1 reader reads 1.0 files).
    py::list versions;
    for (int minor = 0; minor <= info.format_minor; ++minor) {
      versions.append(std::to_string(info.format_major) + "." + std::to_string(minor));
    }
    d["format_versions"] = py::tuple(versions);
    d["isa_compiled"] = py::tuple(py::cast(info.isa_compiled));
    d["isa_detected"] = py::tuple(py::cast(info.isa_detected));
    d["isa_selected"] = py::cast(info.isa_selected);
    return d;
  });

  // Testing only (tests/python/test_q8_gemm_parity.py): one int8 GEMM
  // through the q8_gemm variant that `isa` ("" = default dispatch) selects.
  m.def(
      "_testing_q8_gemm",
      [](py::array_t<int8_t, py::array::c_style | py::array::forcecast> a,
         py::array_t<int8_t, py::array::c_style | py::array::forcecast> b, py::object bias_obj,
         int32_t a_zp, int32_t c_zp,
         py::array_t<int32_t, py::array::c_style | py::array::forcecast> multipliers,
         py::array_t<int32_t, py::array::c_style | py::array::forcecast> shifts, int32_t act_min,
         int32_t act_max, const std::string& isa, bool single_rounding) {
        if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(1) || a.shape(0) < 1 ||
            b.shape(0) < 1 || a.shape(1) < 1) {
          throw py::value_error("a must be [M, K] and b [N, K], M, N, K >= 1");
        }
        const auto m_rows = static_cast<size_t>(a.shape(0));
        const auto n = static_cast<size_t>(b.shape(0));
        const auto k = static_cast<size_t>(a.shape(1));
        py::array_t<int32_t, py::array::c_style | py::array::forcecast> bias;
        if (!bias_obj.is_none()) bias = bias_obj.cast<decltype(bias)>();
        if ((!bias_obj.is_none() && static_cast<size_t>(bias.size()) != n) ||
            static_cast<size_t>(multipliers.size()) != n ||
            static_cast<size_t>(shifts.size()) != n) {
          throw py::value_error("bias, multipliers and shifts need N values each");
        }
        for (py::ssize_t i = 0; i < shifts.size(); ++i) {
          if (shifts.data()[i] < -31 || shifts.data()[i] > 31) {
            throw py::value_error("shifts must be in [-31, 31]");
          }
        }
        if (act_min > act_max || act_min < -128 || act_max > 127) {
          throw py::value_error("need -128 <= act_min <= act_max <= 127");
        }
        gearshift::KernelTable table;
        const gearshift::Status s = gearshift::BuildKernelTable(isa, &table);
        if (!s.ok()) throw py::value_error(s.message());
        gearshift::Q8GemmOutput out;
        out.c_zero_point = c_zp;
        out.act_min = act_min;
        out.act_max = act_max;
        out.single_rounding = single_rounding;
        py::array_t<int8_t> c({static_cast<py::ssize_t>(m_rows), static_cast<py::ssize_t>(n)});
        gearshift::RunQ8Gemm(table.q8_gemm, m_rows, n, k, a.data(), k, a_zp, b.data(),
                             bias_obj.is_none() ? nullptr : bias.data(), multipliers.data(),
                             shifts.data(), out, c.mutable_data(), n);
        return py::make_tuple(c, std::string(table.q8_gemm.name));
      },
      py::arg("a"), py::arg("b"), py::arg("bias"), py::arg("a_zp"), py::arg("c_zp"),
      py::arg("multipliers"), py::arg("shifts"), py::arg("act_min"), py::arg("act_max"),
      py::arg("isa") = "", py::arg("single_rounding") = false,
      "Testing only: (int8 C [M, N], kernel name) of one q8 GEMM on the given ISA "
      "(single_rounding: FULLY_CONNECTED's requantization, else CONV_2D's).");

  py::class_<PyRuntime>(m, "Runtime")
      .def(py::init<const std::string&, const std::string&, int, bool, bool, const std::string&,
                    const std::string&, int64_t, bool>(),
           py::arg("path"), py::arg("gear") = "", py::arg("threads") = 1,
           py::arg("verify_checksums") = true, py::arg("use_mmap") = true, py::arg("isa") = "",
           py::arg("prepare") = "lazy", py::arg("memory_budget_bytes") = 0,
           py::arg("keep_tensors") = false)
      .def_property_readonly("inputs", &PyRuntime::inputs)
      .def_property_readonly("outputs", &PyRuntime::outputs)
      .def_property_readonly("gears", &PyRuntime::gears)
      .def_property("gear", &PyRuntime::gear, &PyRuntime::set_gear)
      .def_property_readonly("last_latency_ms", &PyRuntime::last_latency_ms)
      .def_property("profiling", &PyRuntime::profiling, &PyRuntime::set_profiling)
      .def_property_readonly("last_profile", &PyRuntime::last_profile)
      .def_property_readonly("arena_bytes", &PyRuntime::arena_bytes)
      .def_property_readonly("prepared_bytes", &PyRuntime::prepared_bytes)
      .def_property_readonly("threads", &PyRuntime::threads)
      .def_property_readonly("isa", &PyRuntime::isa)
      .def("run", &PyRuntime::Run, py::arg("inputs"), py::arg("out") = py::none(),
           py::arg("native_io") = false)
      .def(
          "_tensor_view",
          [](py::object self, const std::string& name) {
            return self.cast<PyRuntime&>().TensorView(self, name);
          },
          py::arg("name"),
          "Internal: a read-only view of a kept float tensor, valid until the next run.")
      .def("read_tensor", &PyRuntime::ReadTensor, py::arg("name"),
           "keep_tensors runtimes: tensor `name`'s values after the last run (float32; "
           "int8 gears dequantized).")
      .def("output_shapes", &PyRuntime::OutputShapes, py::arg("input_shapes"));
}
