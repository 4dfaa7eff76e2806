// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// In-memory .gear file builder for C++ tests (header-only). It lays out the
// header, section table, 64-byte aligned sections and CRCs exactly as
// docs/FORMAT.md section 2 describes, so tests can write a manifest as a JSON
// string (or with GearModelBuilder) and load it with GearFile::FromBuffer
// without the Python converters. It also exposes the raw layout helpers that
// the corruption tests use to forge broken files.
//
//   std::vector<uint8_t> data;
//   uint64_t off = gearshift::testing::AppendF32(&data, {1, 2, 3, 4});
//   auto file = gearshift::testing::BuildGearFile(manifest_json, data);
//
//   gearshift::testing::GearModelBuilder b;
//   int x = b.AddInput("x", {-1, 4});
//   int w = b.AddConst("w", {2, 4}, std::vector<float>(8, 0.5f));
//   int y = b.AddTensor("y", {-1, 2});
//   b.AddNode("fc", "FULLY_CONNECTED", {x, w, -1}, {y});
//   b.AddOutput(y);
//   std::vector<uint8_t> file = b.Build();
#ifndef GEARSHIFT_TESTS_CPP_GEAR_BUILDER_H_
#define GEARSHIFT_TESTS_CPP_GEAR_BUILDER_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "format/crc32c.h"

namespace gearshift {
namespace testing {

// Byte offsets of FileHeader fields (docs/FORMAT.md 2.1).
constexpr size_t kHeaderSize = 64;
constexpr size_t kSectionEntrySize = 32;
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersionMajor = 4;
constexpr size_t kOffVersionMinor = 6;
constexpr size_t kOffAlignment = 8;
constexpr size_t kOffSectionCount = 12;
constexpr size_t kOffFileSize = 16;
constexpr size_t kOffSectionTableOffset = 24;
constexpr size_t kOffHeaderCrc = 32;
constexpr size_t kOffFlags = 36;
// Offsets inside a SectionEntry (docs/FORMAT.md 2.2), relative to the entry.
constexpr size_t kOffSecKind = 0;
constexpr size_t kOffSecFlags = 4;
constexpr size_t kOffSecOffset = 8;
constexpr size_t kOffSecSize = 16;
constexpr size_t kOffSecCrc = 24;

constexpr uint32_t kSectionManifest = 1;
constexpr uint32_t kSectionTensorData = 2;

inline void PutLe(std::vector<uint8_t>* b, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t GetLe(const std::vector<uint8_t>& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}
inline size_t SectionEntryOffset(size_t index) {
  return kHeaderSize + index * kSectionEntrySize;
}
inline uint64_t AlignUp(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

struct GearSection {
  uint32_t kind = kSectionTensorData;
  std::vector<uint8_t> payload;
  uint32_t flags = 0;
};

struct GearLayout {
  uint16_t major = 1;
  uint16_t minor = 0;
  uint32_t alignment = 64;
  uint32_t flags = 0;
};

// Recomputes every section CRC and then the header CRC from the bytes as they
// are; for tests that patch a field and want the file to get past the
// checksums to the check under test. Requires a sane header/section table.
inline void RefreshGearCrcs(std::vector<uint8_t>* file) {
  std::vector<uint8_t>& f = *file;
  const uint32_t count = static_cast<uint32_t>(GetLe(f, kOffSectionCount, 4));
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = SectionEntryOffset(i);
    const uint64_t off = GetLe(f, e + kOffSecOffset, 8);
    const uint64_t size = GetLe(f, e + kOffSecSize, 8);
    if (off <= f.size() && size <= f.size() - off) {
      PutLe(file, e + kOffSecCrc, Crc32c(f.data() + off, size), 4);
    }
  }
  PutLe(file, kOffHeaderCrc, 0, 4);
  uint32_t crc = Crc32c(f.data(), kHeaderSize);
  crc = Crc32c(f.data() + kHeaderSize, count * kSectionEntrySize, crc);
  PutLe(file, kOffHeaderCrc, crc, 4);
}

// Lays out the given sections in order, each at the next aligned offset.
inline std::vector<uint8_t> BuildGearFileSections(const std::vector<GearSection>& sections,
                                                  const GearLayout& layout = GearLayout()) {
  const uint64_t a = layout.alignment;
  uint64_t pos = kHeaderSize + sections.size() * kSectionEntrySize;
  std::vector<uint64_t> offsets;
  uint64_t end = pos;
  for (const GearSection& s : sections) {
    pos = AlignUp(pos, a);
    offsets.push_back(pos);
    pos += s.payload.size();
    end = pos;
  }
  std::vector<uint8_t> f(end, 0);
  std::memcpy(&f[kOffMagic], "GEAR", 4);
  PutLe(&f, kOffVersionMajor, layout.major, 2);
  PutLe(&f, kOffVersionMinor, layout.minor, 2);
  PutLe(&f, kOffAlignment, layout.alignment, 4);
  PutLe(&f, kOffSectionCount, sections.size(), 4);
  PutLe(&f, kOffFileSize, end, 8);
  PutLe(&f, kOffSectionTableOffset, kHeaderSize, 8);
  PutLe(&f, kOffFlags, layout.flags, 4);
  for (size_t i = 0; i < sections.size(); ++i) {
    const size_t e = SectionEntryOffset(i);
    PutLe(&f, e + kOffSecKind, sections[i].kind, 4);
    PutLe(&f, e + kOffSecFlags, sections[i].flags, 4);
    PutLe(&f, e + kOffSecOffset, offsets[i], 8);
    PutLe(&f, e + kOffSecSize, sections[i].payload.size(), 8);
    if (!sections[i].payload.empty()) {
      std::memcpy(&f[offsets[i]], sections[i].payload.data(), sections[i].payload.size());
    }
  }
  RefreshGearCrcs(&f);
  return f;
}

// The common case: section 0 = MANIFEST (the JSON text), section 1 =
// TENSOR_DATA (`data`, possibly empty). Storage entries use "section": 1.
inline std::vector<uint8_t> BuildGearFile(const std::string& manifest_json,
                                          const std::vector<uint8_t>& data,
                                          uint16_t major = 1, uint16_t minor = 0) {
  GearLayout layout;
  layout.major = major;
  layout.minor = minor;
  std::vector<GearSection> sections(2);
  sections[0].kind = kSectionManifest;
  sections[0].payload.assign(manifest_json.begin(), manifest_json.end());
  sections[1].kind = kSectionTensorData;
  sections[1].payload = data;
  return BuildGearFileSections(sections, layout);
}

// Pads `data` with zeros to `alignment`, appends `values` as little-endian
// IEEE binary32 and returns the payload's offset (for "storage" entries).
inline uint64_t AppendF32(std::vector<uint8_t>* data, const std::vector<float>& values,
                          uint32_t alignment = 64) {
  data->resize(AlignUp(data->size(), alignment), 0);
  const uint64_t off = data->size();
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) data->push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  return off;
}

// Pads `data` to `alignment` and appends raw bytes; returns their offset.
inline uint64_t AppendBytes(std::vector<uint8_t>* data, const std::vector<uint8_t>& bytes,
                            uint32_t alignment = 64) {
  data->resize(AlignUp(data->size(), alignment), 0);
  const uint64_t off = data->size();
  data->insert(data->end(), bytes.begin(), bytes.end());
  return off;
}

// Little-endian payloads of the 1.1 storage dtypes and the q8r4 residuals.
inline std::vector<uint8_t> I8Bytes(const std::vector<int8_t>& v) {
  return std::vector<uint8_t>(v.begin(), v.end());
}
inline std::vector<uint8_t> I32Bytes(const std::vector<int32_t>& v) {
  std::vector<uint8_t> b;
  for (int32_t x : v) {
    const auto u = static_cast<uint32_t>(x);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(u >> (8 * i)));
  }
  return b;
}
inline std::vector<uint8_t> F16Bytes(const std::vector<uint16_t>& bits) {
  std::vector<uint8_t> b;
  for (uint16_t x : bits) {
    b.push_back(static_cast<uint8_t>(x));
    b.push_back(static_cast<uint8_t>(x >> 8));
  }
  return b;
}
// Residuals r in [-8, 7], two per byte, element 2i in the low nibble.
inline std::vector<uint8_t> NibbleBytes(const std::vector<int>& r) {
  std::vector<uint8_t> b((r.size() + 1) / 2, 0);
  for (size_t i = 0; i < r.size(); ++i) {
    const uint8_t n = static_cast<uint8_t>(r[i] & 0x0F);
    b[i / 2] |= static_cast<uint8_t>(i % 2 == 0 ? n : n << 4);
  }
  return b;
}

// A storage entry's "quant" (docs/FORMAT.md "Storage"). axis -1 = null.
struct QuantSpec {
  int axis = -1;
  std::vector<float> scale;
  std::vector<int> zero_point;  // empty: the key is omitted
};

// Shortest decimal text that reads back as the same float32.
inline std::string FloatJson(float v) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

inline std::string QuantJson(const QuantSpec& q) {
  std::string j = "{\"axis\":" + (q.axis < 0 ? std::string("null") : std::to_string(q.axis)) +
                  ",\"scale\":[";
  for (size_t i = 0; i < q.scale.size(); ++i) j += (i ? "," : "") + FloatJson(q.scale[i]);
  j += "]";
  if (!q.zero_point.empty()) {
    j += ",\"zero_point\":[";
    for (size_t i = 0; i < q.zero_point.size(); ++i) {
      j += (i ? "," : "") + std::to_string(q.zero_point[i]);
    }
    j += "]";
  }
  return j + "}";
}

// One entry of a q8/q4 gear's "activations".
struct ActSpec {
  int tensor;
  float scale;
  int zero_point;
};

// Builds an f32 model programmatically: by default one gear ("fp32") over
// the constants of AddConst. Format 1.1 files add storage entries of any
// dtype/encoding (AddStorage*) and gears of any compute (AddGear); the
// header then says 1.1. Attribute objects
// are passed as JSON text, e.g. R"({"stride":[1,1],"padding":"SAME"})".
class GearModelBuilder {
 public:
  int AddTensor(const std::string& name, const std::vector<int64_t>& shape) {
    tensors_.push_back(Tensor{name, shape, false});
    return static_cast<int>(tensors_.size()) - 1;
  }
  int AddInput(const std::string& name, const std::vector<int64_t>& shape) {
    const int t = AddTensor(name, shape);
    inputs_.push_back(t);
    return t;
  }
  // A constant tensor with its own dense f32 storage in section 1.
  int AddConst(const std::string& name, const std::vector<int64_t>& shape,
               const std::vector<float>& values) {
    tensors_.push_back(Tensor{name, shape, true});
    const int t = static_cast<int>(tensors_.size()) - 1;
    const int s = AddF32Storage(shape, values);
    constants_.emplace_back(t, s);
    return t;
  }
  // A constant tensor whose storage each gear names (AddGear).
  int AddConstTensor(const std::string& name, const std::vector<int64_t>& shape) {
    tensors_.push_back(Tensor{name, shape, true});
    return static_cast<int>(tensors_.size()) - 1;
  }

  // Storage entries; each returns the storage index.
  int AddF32Storage(const std::vector<int64_t>& shape, const std::vector<float>& values) {
    std::vector<uint8_t> bytes;
    AppendF32(&bytes, values);
    return AddStorage("f32", "dense", shape, bytes);
  }
  int AddF16Storage(const std::vector<int64_t>& shape, const std::vector<uint16_t>& bits) {
    return AddStorage("f16", "dense", shape, F16Bytes(bits));
  }
  int AddI8Storage(const std::vector<int64_t>& shape, const std::vector<int8_t>& values,
                   const QuantSpec& quant) {
    return AddStorage("i8", "dense", shape, I8Bytes(values), -1, 0, QuantJson(quant));
  }
  int AddI32Storage(const std::vector<int64_t>& shape, const std::vector<int32_t>& values,
                    const QuantSpec& quant) {
    return AddStorage("i32", "dense", shape, I32Bytes(values), -1, 0, QuantJson(quant));
  }
  int AddQ8R4Storage(const std::vector<int64_t>& shape, int base, const std::vector<int>& r) {
    return AddStorage("f32", "q8r4", shape, NibbleBytes(r), base);
  }
  int AddQ4MStorage(const std::vector<int64_t>& shape, int base, int block) {
    Storage st;
    st.dtype = "i8";
    st.encoding = "q4m";
    st.shape = shape;
    st.base = base;
    st.block = block;
    st.payload = false;
    storage_.push_back(st);
    minor_ = 1;
    return static_cast<int>(storage_.size()) - 1;
  }
  // Any entry: `bytes` go to section 1; quant_json "" omits the key.
  int AddStorage(const std::string& dtype, const std::string& encoding,
                 const std::vector<int64_t>& shape, const std::vector<uint8_t>& bytes,
                 int base = -1, int block = 0, const std::string& quant_json = "") {
    Storage st;
    st.offset = AppendBytes(&data_, bytes);
    st.length = bytes.size();
    st.dtype = dtype;
    st.encoding = encoding;
    st.shape = shape;
    st.base = base;
    st.block = block;
    st.quant = quant_json;
    storage_.push_back(st);
    if (dtype != "f32" || encoding != "dense") minor_ = 1;
    return static_cast<int>(storage_.size()) - 1;
  }

  // Gears, in order (the first is the default). Without any, Build writes
  // one "fp32" gear over AddConst's storage.
  void AddGear(const std::string& name, const std::string& compute,
               const std::vector<std::pair<int, int>>& constants,
               const std::vector<ActSpec>& activations = {}) {
    gears_.push_back(Gear{name, compute, constants, activations});
    if (compute != "f32") minor_ = 1;
  }
  // (tensor, storage) pairs of the AddConst constants.
  const std::vector<std::pair<int, int>>& default_constants() const { return constants_; }
  // Activation parameters for every non-constant tensor, all equal.
  std::vector<ActSpec> UniformActivations(float scale, int zero_point) const {
    std::vector<ActSpec> a;
    for (size_t t = 0; t < tensors_.size(); ++t) {
      if (!tensors_[t].is_const) a.push_back(ActSpec{static_cast<int>(t), scale, zero_point});
    }
    return a;
  }
  void AddNode(const std::string& name, const std::string& op, const std::vector<int>& inputs,
               const std::vector<int>& outputs, const std::string& attrs_json = "{}") {
    nodes_.push_back(Node{name, op, inputs, outputs, attrs_json});
  }
  void AddOutput(int t) { outputs_.push_back(t); }

  std::string ManifestJson() const {
    std::string j = "{\"producer\":\"gear_builder\",\"tensors\":[";
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (i) j += ",";
      j += "{\"name\":\"" + tensors_[i].name + "\",\"shape\":" + Ints(tensors_[i].shape) +
           ",\"dtype\":\"f32\"" + (tensors_[i].is_const ? ",\"const\":true" : "") + "}";
    }
    j += "],\"inputs\":" + Ints(inputs_) + ",\"outputs\":" + Ints(outputs_) + ",\"nodes\":[";
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (i) j += ",";
      j += "{\"name\":\"" + nodes_[i].name + "\",\"op\":\"" + nodes_[i].op +
           "\",\"inputs\":" + Ints(nodes_[i].inputs) + ",\"outputs\":" + Ints(nodes_[i].outputs) +
           ",\"attrs\":" + nodes_[i].attrs + "}";
    }
    j += "],\"storage\":[";
    for (size_t i = 0; i < storage_.size(); ++i) {
      const Storage& st = storage_[i];
      if (i) j += ",";
      j += "{";
      if (st.payload) {
        j += "\"section\":1,\"offset\":" + std::to_string(st.offset) +
             ",\"length\":" + std::to_string(st.length) + ",";
      }
      j += "\"dtype\":\"" + st.dtype + "\",\"shape\":" + Ints(st.shape) +
           ",\"encoding\":\"" + st.encoding + "\"";
      if (st.base >= 0) j += ",\"base\":" + std::to_string(st.base);
      if (st.encoding == "q4m") j += ",\"block\":" + std::to_string(st.block);
      if (!st.quant.empty()) j += ",\"quant\":" + st.quant;
      j += "}";
    }
    j += "],\"gears\":[";
    std::vector<Gear> gears = gears_;
    if (gears.empty()) gears.push_back(Gear{"fp32", "f32", constants_, {}});
    for (size_t g = 0; g < gears.size(); ++g) {
      if (g) j += ",";
      j += "{\"name\":\"" + gears[g].name + "\",\"compute\":\"" + gears[g].compute +
           "\",\"constants\":[";
      for (size_t i = 0; i < gears[g].constants.size(); ++i) {
        if (i) j += ",";
        j += "[" + std::to_string(gears[g].constants[i].first) + "," +
             std::to_string(gears[g].constants[i].second) + "]";
      }
      j += "]";
      if (gears[g].compute == "q8" || gears[g].compute == "q4") {
        j += ",\"activations\":[";
        for (size_t i = 0; i < gears[g].activations.size(); ++i) {
          const ActSpec& a = gears[g].activations[i];
          if (i) j += ",";
          j += "[" + std::to_string(a.tensor) + "," + FloatJson(a.scale) + "," +
               std::to_string(a.zero_point) + "]";
        }
        j += "]";
      }
      j += "}";
    }
    j += "]}";
    return j;
  }
  const std::vector<uint8_t>& data() const { return data_; }
  uint16_t minor() const { return minor_; }
  std::vector<uint8_t> Build() const { return BuildGearFile(ManifestJson(), data_, 1, minor_); }

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    bool is_const;
  };
  struct Node {
    std::string name, op;
    std::vector<int> inputs, outputs;
    std::string attrs;
  };
  struct Storage {
    uint64_t offset = 0, length = 0;
    std::string dtype = "f32", encoding = "dense";
    std::vector<int64_t> shape;
    int base = -1, block = 0;
    std::string quant;  // JSON, "" = absent
    bool payload = true;
  };
  struct Gear {
    std::string name, compute;
    std::vector<std::pair<int, int>> constants;
    std::vector<ActSpec> activations;
  };
  template <typename T>
  static std::string Ints(const std::vector<T>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ",";
      s += std::to_string(v[i]);
    }
    return s + "]";
  }

  std::vector<Tensor> tensors_;
  std::vector<int> inputs_, outputs_;
  std::vector<Node> nodes_;
  std::vector<Storage> storage_;
  std::vector<std::pair<int, int>> constants_;
  std::vector<Gear> gears_;
  std::vector<uint8_t> data_;
  uint16_t minor_ = 0;
};

}  // namespace testing
}  // namespace gearshift

#endif  // GEARSHIFT_TESTS_CPP_GEAR_BUILDER_H_
