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

// A sparse int8 payload (docs/FORMAT.md 1.2) of `q`, seen as `rows` rows of
// `q.size() / rows` values (channel axis 0, so the row-major order is the
// tensor's C order). "2:4" needs every group of four to hold at most two
// non-zeros; a group with fewer stores zeros at the lowest free positions.
struct SparsePayload {
  std::vector<uint8_t> bytes;
  int64_t nnz = 0;
};
inline SparsePayload EncodeSparse(const std::vector<int8_t>& q, int64_t rows,
                                  const std::string& encoding) {
  SparsePayload out;
  const int64_t n = static_cast<int64_t>(q.size()), k = n / rows;
  std::vector<uint8_t> values;
  if (encoding == "2:4") {
    const int64_t groups = n / 4;
    std::vector<uint8_t> pos(static_cast<size_t>((groups + 1) / 2), 0);
    for (int64_t g = 0; g < groups; ++g) {
      int p[2], m = 0;
      for (int i = 0; i < 4 && m < 2; ++i) {
        if (q[static_cast<size_t>(g * 4 + i)] != 0) p[m++] = i;
      }
      for (int i = 0; i < 4 && m < 2; ++i) {  // fill with the lowest free positions
        if (q[static_cast<size_t>(g * 4 + i)] == 0 && (m == 0 || p[0] != i)) p[m++] = i;
      }
      if (p[0] > p[1]) std::swap(p[0], p[1]);
      for (int i = 0; i < 2; ++i) {
        const int8_t v = q[static_cast<size_t>(g * 4 + p[i])];
        values.push_back(static_cast<uint8_t>(v));
        out.nnz += v != 0;
      }
      pos[static_cast<size_t>(g / 2)] |= static_cast<uint8_t>((p[0] | p[1] << 2) << (4 * (g % 2)));
    }
    out.bytes = values;
    out.bytes.insert(out.bytes.end(), pos.begin(), pos.end());
    return out;
  }
  for (int8_t v : q) {
    if (v != 0) values.push_back(static_cast<uint8_t>(v));
  }
  out.nnz = static_cast<int64_t>(values.size());
  if (encoding == "bitmap") {
    out.bytes.assign(static_cast<size_t>((n + 7) / 8), 0);
    for (int64_t i = 0; i < n; ++i) {
      if (q[static_cast<size_t>(i)] != 0) out.bytes[static_cast<size_t>(i / 8)] |= 1u << (i % 8);
    }
  } else {  // csr
    const int isz = k <= 65536 ? 2 : 4;
    uint32_t count = 0;
    for (int i = 0; i < 4; ++i) out.bytes.push_back(0);
    std::vector<uint8_t> idx;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < k; ++c) {
        if (q[static_cast<size_t>(r * k + c)] == 0) continue;
        ++count;
        for (int i = 0; i < isz; ++i) idx.push_back(static_cast<uint8_t>(c >> (8 * i)));
      }
      for (int i = 0; i < 4; ++i) out.bytes.push_back(static_cast<uint8_t>(count >> (8 * i)));
    }
    out.bytes.insert(out.bytes.end(), idx.begin(), idx.end());
  }
  out.bytes.insert(out.bytes.end(), values.begin(), values.end());
  return out;
}

// A storage entry's "quant" (docs/FORMAT.md "Storage"). axis -1 = null.
struct QuantSpec {
  int axis = -1;
  std::vector<float> scale;
  std::vector<int> zero_point;  // empty: the key is omitted
};

// Shortest decimal text whose double value is exactly the float32 `v`
// (what Python's json.dumps writes for float(np.float32(v))); the reader
// refuses scales that are not exactly a float32.
inline std::string FloatJson(float v) {
  char buf[40];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, static_cast<double>(v));
    if (std::strtod(buf, nullptr) == static_cast<double>(v)) break;
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
  // 1.7: one signed residual byte per base value.
  int AddQ8R8Storage(const std::vector<int64_t>& shape, int base, const std::vector<int>& r) {
    std::vector<uint8_t> bytes(r.size());
    for (size_t i = 0; i < r.size(); ++i) bytes[i] = static_cast<uint8_t>(r[i] & 0xFF);
    return AddStorage("f32", "q8r8", shape, bytes, base);
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
    if (minor_ < 1) minor_ = 1;
    return static_cast<int>(storage_.size()) - 1;
  }
  // A 1.2 sparse i8 entry (encoding "bitmap", "csr" or "2:4"; EncodeSparse
  // makes the bytes and nnz).
  int AddSparseI8Storage(const std::string& encoding, const std::vector<int64_t>& shape,
                         const std::vector<uint8_t>& bytes, int64_t nnz, const QuantSpec& quant) {
    const int s = AddStorage("i8", encoding, shape, bytes, -1, 0, QuantJson(quant));
    storage_[static_cast<size_t>(s)].nnz = nnz;
    minor_ = 2;
    return s;
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
    if ((dtype != "f32" || encoding != "dense") && minor_ < 1) minor_ = 1;
    return static_cast<int>(storage_.size()) - 1;
  }

  // Gears, in order (the first is the default). Without any, Build writes
  // one "fp32" gear over AddConst's storage.
  void AddGear(const std::string& name, const std::string& compute,
               const std::vector<std::pair<int, int>>& constants,
               const std::vector<ActSpec>& activations = {}, bool sparse = false) {
    gears_.push_back(Gear{name, compute, constants, activations, sparse});
    if (compute != "f32" && minor_ < 1) minor_ = 1;
    if (sparse) minor_ = 2;
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
      if (st.nnz >= 0) j += ",\"nnz\":" + std::to_string(st.nnz);
      if (!st.quant.empty()) j += ",\"quant\":" + st.quant;
      j += "}";
    }
    j += "],\"gears\":[";
    std::vector<Gear> gears = gears_;
    if (gears.empty()) gears.push_back(Gear{"fp32", "f32", constants_, {}, false});
    for (size_t g = 0; g < gears.size(); ++g) {
      if (g) j += ",";
      j += "{\"name\":\"" + gears[g].name + "\",\"compute\":\"" + gears[g].compute +
           "\"," + (gears[g].sparse ? "\"sparse\":true," : "") + "\"constants\":[";
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
    int64_t nnz = -1;  // sparse entries; -1 = key absent
  };
  struct Gear {
    std::string name, compute;
    std::vector<std::pair<int, int>> constants;
    std::vector<ActSpec> activations;
    bool sparse = false;
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

// A format 1.1 model with every storage dtype and encoding and four gears,
// for reader, weight-preparation and runtime tests:
//   x [-1,2,2,3] -> CONV_2D (1x1, 4 filters) -> MAX_POOL_2D 2x2 -> RESHAPE [4]
//   -> CONCATENATION (flat, flat) -> FULLY_CONNECTED [2,8] -> ADD k -> y [-1,2]
// Tensors: 0 x, 1 conv/w, 2 conv/b, 3 conv/out, 4 pool, 5 flat, 6 cat,
// 7 fc/w, 8 fc/out, 9 k, 10 y.
// Storage: 0-3 f32 dense (conv/w, conv/b, fc/w, k); 4 f16 conv/w; 5 i8
// conv/w (axis 0); 6 i32 conv/b; 7 i8 fc/w (axis 0); 8 i8 k (per tensor,
// zero point 3); 9 q8r4 conv/w over 5; 10 q4m conv/w over 5 (block 2);
// 11 q4m fc/w over 7 (block 4).
// Gears: "fp32" (f32; conv/w from q8r4), "fp16" (f16; conv/w f16 storage),
// "int8" (q8), "int4" (q4). Scales are distinct so tests can find and
// replace them in the manifest text.
struct MixedModelOptions {
  int8_t conv_w0 = 100;  // first int8 conv weight (-128 makes it asymmetric)
};
inline GearModelBuilder MixedGearModel(const MixedModelOptions& opt = MixedModelOptions()) {
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 2, 2, 3});
  const int w = b.AddConstTensor("conv/w", {4, 1, 1, 3});
  const int bias = b.AddConstTensor("conv/b", {4});
  const int c = b.AddTensor("conv/out", {-1, 2, 2, 4});
  const int p = b.AddTensor("pool", {-1, 1, 1, 4});
  const int r = b.AddTensor("flat", {-1, 4});
  const int cat = b.AddTensor("cat", {-1, 8});
  const int fw = b.AddConstTensor("fc/w", {2, 8});
  const int fy = b.AddTensor("fc/out", {-1, 2});
  const int k = b.AddConstTensor("k", {2});
  const int y = b.AddTensor("y", {-1, 2});
  b.AddNode("conv", "CONV_2D", {x, w, bias}, {c},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU"})");
  b.AddNode("pool", "MAX_POOL_2D", {c}, {p}, R"({"filter":[2,2],"stride":[2,2],"padding":"VALID"})");
  b.AddNode("reshape", "RESHAPE", {p}, {r}, R"({"shape":[4]})");
  b.AddNode("concat", "CONCATENATION", {r, r}, {cat}, R"({"axis":1})");
  b.AddNode("fc", "FULLY_CONNECTED", {cat, fw, -1}, {fy}, "{}");
  b.AddNode("add", "ADD", {fy, k}, {y}, "{}");
  b.AddOutput(y);

  const std::vector<float> wf = {1.5625f, -0.1875f, 0.25f,  0.5f,   -0.5f, 1.0f,
                                 0.25f,   0.75f,    -1.0f,  0.125f, 0.0f,  -0.0625f};
  const std::vector<float> fwf(16, 0.0625f);
  const int s_w = b.AddF32Storage({4, 1, 1, 3}, wf);
  const int s_b = b.AddF32Storage({4}, {0.5f, -0.25f, 0.0f, 1.0f});
  const int s_fw = b.AddF32Storage({2, 8}, fwf);
  const int s_k = b.AddF32Storage({2}, {0.5f, -0.5f});
  // f16 bits of wf (all exactly representable): 1.5625 = 0x3E40, ...
  const int s_w16 = b.AddF16Storage({4, 1, 1, 3}, {0x3E40, 0xB200, 0x3400, 0x3800, 0xB800, 0x3C00,
                                                   0x3400, 0x3A00, 0xBC00, 0x3000, 0x0000, 0xAC00});
  QuantSpec wq;
  wq.axis = 0;
  wq.scale = {0.015625f, 0.03125f, 0.046875f, 0.0078125f};
  const int s_w8 = b.AddI8Storage(
      {4, 1, 1, 3}, {opt.conv_w0, -12, 16, 16, -16, 32, 5, 16, -21, 16, 0, -8}, wq);
  QuantSpec bq;
  bq.axis = 0;
  bq.scale = {0.0006103515625f, 0.001220703125f, 0.0018310546875f, 0.00030517578125f};
  bq.zero_point = {0, 0, 0, 0};
  const int s_b32 = b.AddI32Storage({4}, {819, -205, 0, 3277}, bq);
  QuantSpec fq;
  fq.axis = 0;
  fq.scale = {0.00048828125f, 0.000732421875f};
  const int s_fw8 = b.AddI8Storage({2, 8}, std::vector<int8_t>(16, 127), fq);
  QuantSpec kq;
  kq.scale = {0.0234375f};
  kq.zero_point = {3};
  const int s_k8 = b.AddI8Storage({2}, {24, -18}, kq);
  const int s_wr = b.AddQ8R4Storage({4, 1, 1, 3}, s_w8, {0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, -8});
  const int s_w4 = b.AddQ4MStorage({4, 1, 1, 3}, s_w8, 2);
  const int s_fw4 = b.AddQ4MStorage({2, 8}, s_fw8, 4);

  b.AddGear("fp32", "f32", {{w, s_wr}, {bias, s_b}, {fw, s_fw}, {k, s_k}});
  b.AddGear("fp16", "f16", {{w, s_w16}, {bias, s_b}, {fw, s_fw}, {k, s_k}});
  const std::vector<ActSpec> acts = {{x, 0.0390625f, -5},      {c, 0.02734375f, -128},
                                     {p, 0.02734375f, -128},   {r, 0.02734375f, -128},
                                     {cat, 0.02734375f, -128}, {fy, 0.1171875f, 4},
                                     {y, 0.2265625f, 7}};
  b.AddGear("int8", "q8", {{w, s_w8}, {bias, s_b32}, {fw, s_fw8}, {k, s_k8}}, acts);
  b.AddGear("int4", "q4", {{w, s_w4}, {bias, s_b32}, {fw, s_fw4}, {k, s_k8}}, acts);
  return b;
}

}  // namespace testing
}  // namespace gearshift

#endif  // GEARSHIFT_TESTS_CPP_GEAR_BUILDER_H_
