// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The .gear reader: GearFile::Open / GearFile::FromBuffer. It treats every
// byte as hostile and performs, in order, every check of docs/FORMAT.md
// section 3 steps 1-3 (header, section table and CRCs, manifest), stopping
// at the first failure with a kFormatError that names the field. Only a
// fully validated file becomes a ModelDesc, so the planner and kernels never
// see an out-of-range index, an unaligned or out-of-bounds payload, or a
// graph that is not in topological order. Step 4 (shape inference) belongs
// to src/plan; here only static checks that need no batch size are done.
//
// Integers in the file are read byte by byte (little-endian, any alignment),
// so the reader is correct on big-endian and strict-alignment hosts too.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "format/crc32c.h"
#include "format/file_map.h"
#include "format/json.h"
#include "format/model_desc.h"
#include "format/sparse_codec.h"

namespace gearshift {
namespace {

constexpr size_t kHeaderSize = 64;
constexpr size_t kSectionEntrySize = 32;
constexpr size_t kHeaderCrcOffset = 32;
constexpr uint32_t kMaxSections = 1024;
constexpr uint32_t kMinAlignment = 16;
constexpr uint32_t kMaxAlignment = 65536;
constexpr uint32_t kKindManifest = 1;
constexpr uint32_t kKindTensorData = 2;
// 1.6: binary quantization parameters referenced from the manifest (FORMAT.md 2.4).
constexpr uint32_t kKindParams = 3;
constexpr uint32_t kFirstOptionalKind = 1024;
constexpr uint32_t kLastOptionalKind = 65535;
constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 20;
constexpr size_t kMaxRank = 6;
// A sparse entry describes at most this many values per payload byte.
constexpr uint64_t kSparseValuesPerByte = 1024;
// Data pointers handed to kernels are at least this aligned (model_desc.h).
constexpr uintptr_t kDataAlignment = 64;
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

uint64_t LoadLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Little-endian binary32 / int32 at any alignment (PARAMS section values).
float LoadF32(const uint8_t* p) {
  const uint32_t bits = static_cast<uint32_t>(LoadLe(p, 4));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
int32_t LoadI32(const uint8_t* p) {
  const uint32_t bits = static_cast<uint32_t>(LoadLe(p, 4));
  int32_t v;
  std::memcpy(&v, &bits, 4);
  return v;
}

std::string Hex32(uint32_t v) {
  static const char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 7; i >= 0; --i) s += kHex[(v >> (4 * i)) & 15];
  return s;
}

std::string ShapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

struct Header {
  uint16_t major = 0, minor = 0;
  uint32_t alignment = 0;
  uint32_t section_count = 0;
  uint64_t file_size = 0;
  uint64_t section_table_offset = 0;
  uint32_t header_crc = 0;
  uint32_t flags = 0;
};

struct Section {
  uint32_t kind = 0, flags = 0;
  uint64_t offset = 0, size = 0;
  uint32_t crc = 0;
  std::string label;  // "section 1 (TENSOR_DATA)"
};

std::string SectionLabel(size_t index, uint32_t kind) {
  std::string s = "section " + std::to_string(index) + " (";
  if (kind == kKindManifest) return s + "MANIFEST)";
  if (kind == kKindTensorData) return s + "TENSOR_DATA)";
  if (kind == kKindParams) return s + "PARAMS)";
  return s + "kind " + std::to_string(kind) + ")";
}

// ---- step 1: header ----------------------------------------------------------

Status ReadHeader(const uint8_t* d, size_t n, Header* h) {
  if (n < kHeaderSize) {
    return FormatError("header: file is " + std::to_string(n) +
                       " bytes, shorter than the 64-byte header");
  }
  if (std::memcmp(d, "GEAR", 4) != 0) {
    return FormatError("header.magic: expected \"GEAR\" (47 45 41 52), found bytes " +
                       Hex32(static_cast<uint32_t>(LoadLe(d, 4))) + " (little-endian)");
  }
  h->major = static_cast<uint16_t>(LoadLe(d + 4, 2));
  h->minor = static_cast<uint16_t>(LoadLe(d + 6, 2));
  h->alignment = static_cast<uint32_t>(LoadLe(d + 8, 4));
  h->section_count = static_cast<uint32_t>(LoadLe(d + 12, 4));
  h->file_size = LoadLe(d + 16, 8);
  h->section_table_offset = LoadLe(d + 24, 8);
  h->header_crc = static_cast<uint32_t>(LoadLe(d + 32, 4));
  h->flags = static_cast<uint32_t>(LoadLe(d + 36, 4));

  const std::string file_version = std::to_string(h->major) + "." + std::to_string(h->minor);
  const std::string reader_version =
      std::to_string(kFormatMajor) + "." + std::to_string(kFormatMinor);
  if (h->major > kFormatMajor) {
    return Status(StatusCode::kUnsupported,
                  "header.version_major: the file is format " + file_version +
                      ", newer than this reader's format " + reader_version +
                      "; a newer gearshift runtime is needed to read it");
  }
  if (h->major < kFormatMajor) {
    return FormatError("header.version_major: the file is format " + file_version +
                       ", but this reader (format " + reader_version +
                       ") knows no major version below " + std::to_string(kFormatMajor));
  }
  const uint32_t a = h->alignment;
  if (a < kMinAlignment || a > kMaxAlignment || (a & (a - 1)) != 0) {
    return FormatError("header.alignment: expected a power of two in [16, 65536], found " +
                       std::to_string(a));
  }
  if (h->flags != 0) {
    return FormatError("header.flags: expected 0 (no flags are defined in format 1.x), found " +
                       Hex32(h->flags));
  }
  if (h->file_size != n) {
    return FormatError("header.file_size: header says " + std::to_string(h->file_size) +
                       " bytes, the file is " + std::to_string(n) + " bytes (" +
                       (n < h->file_size ? "truncated" : "extended") + ")");
  }
  if (h->section_count < 1 || h->section_count > kMaxSections) {
    return FormatError("header.section_count: expected 1..1024, found " +
                       std::to_string(h->section_count));
  }
  if (h->section_table_offset != kHeaderSize) {
    return FormatError("header.section_table_offset: expected 64, found " +
                       std::to_string(h->section_table_offset));
  }
  // section_count <= 1024, so this cannot overflow.
  const uint64_t table_end = kHeaderSize + uint64_t{h->section_count} * kSectionEntrySize;
  if (table_end > n) {
    return FormatError("header.section_count: a section table of " +
                       std::to_string(h->section_count) + " entries ends at byte " +
                       std::to_string(table_end) + ", past the end of the " +
                       std::to_string(n) + "-byte file");
  }
  uint8_t head[kHeaderSize];
  std::memcpy(head, d, kHeaderSize);
  std::memset(head + kHeaderCrcOffset, 0, 4);
  uint32_t crc = Crc32c(head, kHeaderSize);
  crc = Crc32c(d + kHeaderSize, table_end - kHeaderSize, crc);
  if (crc != h->header_crc) {
    return FormatError("header.header_crc32c: CRC32C mismatch: stored " + Hex32(h->header_crc) +
                       ", computed " + Hex32(crc));
  }
  return Status::Ok();
}

// ---- step 2: sections --------------------------------------------------------

Status ReadSections(const uint8_t* d, size_t n, const Header& h, bool verify_checksums,
                    std::vector<Section>* sections, size_t* manifest_index) {
  const uint64_t table_end = kHeaderSize + uint64_t{h.section_count} * kSectionEntrySize;
  uint64_t prev_end = table_end;
  int manifests = 0, params = 0;
  sections->resize(h.section_count);
  for (uint32_t i = 0; i < h.section_count; ++i) {
    const uint8_t* e = d + kHeaderSize + size_t{i} * kSectionEntrySize;
    Section& s = (*sections)[i];
    s.kind = static_cast<uint32_t>(LoadLe(e, 4));
    s.flags = static_cast<uint32_t>(LoadLe(e + 4, 4));
    s.offset = LoadLe(e + 8, 8);
    s.size = LoadLe(e + 16, 8);
    s.crc = static_cast<uint32_t>(LoadLe(e + 24, 4));
    s.label = SectionLabel(i, s.kind);
    const bool optional = s.kind >= kFirstOptionalKind && s.kind <= kLastOptionalKind;
    if (s.kind != kKindManifest && s.kind != kKindTensorData && s.kind != kKindParams &&
        !optional) {
      // A later minor may add a required kind (as 1.6 added PARAMS): say so,
      // since the reader, not the file, is what is out of date then.
      const std::string newer = h.minor > kFormatMinor
                                    ? "; the file is format 1." + std::to_string(h.minor) +
                                          ", newer than this reader's 1." +
                                          std::to_string(kFormatMinor) +
                                          ": a newer gearshift runtime reads it"
                                    : "";
      return FormatError(s.label + ": unknown section kind " + std::to_string(s.kind) +
                         " (known: 1 = MANIFEST, 2 = TENSOR_DATA, 3 = PARAMS, optional "
                         "1024..65535)" +
                         newer);
    }
    if (s.kind == kKindParams && ++params > 1) {
      return FormatError(s.label + ": a second PARAMS section; a file has at most one");
    }
    if (s.kind == kKindManifest) {
      ++manifests;
      *manifest_index = i;
    }
    if (s.flags != 0) {
      return FormatError(s.label + ": flags: expected 0, found " + Hex32(s.flags));
    }
    if (s.offset % h.alignment != 0) {
      return FormatError(s.label + ": offset " + std::to_string(s.offset) +
                         " is not a multiple of the alignment " + std::to_string(h.alignment));
    }
    if (s.offset < prev_end) {
      return FormatError(s.label + ": offset " + std::to_string(s.offset) +
                         " overlaps the section table or the previous section (which ends at " +
                         std::to_string(prev_end) +
                         "); sections must be in increasing offset order");
    }
    if (s.offset > n || s.size > n - s.offset) {
      return FormatError(s.label + ": bytes [" + std::to_string(s.offset) + ", +" +
                         std::to_string(s.size) + ") extend past the end of the " +
                         std::to_string(n) + "-byte file");
    }
    if (s.kind == kKindParams && s.size > kMaxManifestBytes) {
      return FormatError(s.label + ": " + std::to_string(s.size) +
                         " bytes, more than the PARAMS limit of " +
                         std::to_string(kMaxManifestBytes));
    }
    prev_end = s.offset + s.size;
  }
  if (manifests != 1) {
    return FormatError("section table: expected exactly one MANIFEST section, found " +
                       std::to_string(manifests));
  }
  for (const Section& s : *sections) {
    // PARAMS is manifest data (scales, zero points): always verified.
    if (!verify_checksums && s.kind != kKindManifest && s.kind != kKindParams) continue;
    const uint32_t crc = Crc32c(d + s.offset, s.size);
    if (crc != s.crc) {
      return FormatError(s.label + ": CRC32C mismatch: stored " + Hex32(s.crc) +
                         ", computed " + Hex32(crc));
    }
  }
  return Status::Ok();
}

// ---- step 3: manifest --------------------------------------------------------

// Product of dims times elem_size, or false if it would exceed INT64_MAX.
// Dimensions of -1 (batch) count as 1.
bool ByteCount(const Shape& shape, int64_t elem_size, int64_t* out) {
  int64_t n = elem_size;
  for (int64_t dim : shape) {
    const int64_t d = dim < 0 ? 1 : dim;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return false;
    n *= d;
  }
  *out = n;
  return true;
}

// Names and element sizes of storage dtypes and encodings (FORMAT.md "Storage").
const char* DTypeName(StorageDType d) {
  switch (d) {
    case StorageDType::kF32:
      return "f32";
    case StorageDType::kF16:
      return "f16";
    case StorageDType::kI8:
      return "i8";
    case StorageDType::kI32:
      return "i32";
  }
  return "?";
}

int64_t DTypeSize(StorageDType d) {
  switch (d) {
    case StorageDType::kF16:
      return 2;
    case StorageDType::kI8:
      return 1;
    case StorageDType::kF32:
    case StorageDType::kI32:
      break;
  }
  return 4;
}

bool ParseStorageDType(const std::string& s, StorageDType* out) {
  if (s == "f32") {
    *out = StorageDType::kF32;
  } else if (s == "f16") {
    *out = StorageDType::kF16;
  } else if (s == "i8") {
    *out = StorageDType::kI8;
  } else if (s == "i32") {
    *out = StorageDType::kI32;
  } else {
    return false;
  }
  return true;
}

// A number for messages, with `digits` significant digits (9 round-trips a
// float32, 17 a double).
std::string Num(double v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

// Names from the file, cut and with control characters replaced, for messages.
std::string Printable(const std::string& s) {
  std::string out = s.substr(0, 60);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return out;
}

struct OpInfo {
  const char* name;
  OpType type;
  int min_inputs, max_inputs;  // max -1 = unbounded
  bool optional_third;         // inputs[2] (bias) may be -1
};

constexpr OpInfo kOps[] = {
    {"CONV_2D", OpType::kConv2D, 3, 3, true},
    {"DEPTHWISE_CONV_2D", OpType::kDepthwiseConv2D, 3, 3, true},
    {"FULLY_CONNECTED", OpType::kFullyConnected, 3, 3, true},
    {"MAX_POOL_2D", OpType::kMaxPool2D, 1, 1, false},
    {"AVERAGE_POOL_2D", OpType::kAveragePool2D, 1, 1, false},
    {"MEAN", OpType::kMean, 1, 1, false},
    {"RELU", OpType::kRelu, 1, 1, false},
    {"RELU6", OpType::kRelu6, 1, 1, false},
    {"RELU_N1_TO_1", OpType::kReluN1To1, 1, 1, false},
    {"LOGISTIC", OpType::kLogistic, 1, 1, false},
    {"TANH", OpType::kTanh, 1, 1, false},
    {"HARD_SWISH", OpType::kHardSwish, 1, 1, false},
    {"SOFTMAX", OpType::kSoftmax, 1, 1, false},
    {"ADD", OpType::kAdd, 2, 2, false},
    {"MUL", OpType::kMul, 2, 2, false},
    {"CONCATENATION", OpType::kConcatenation, 1, -1, false},
    {"RESHAPE", OpType::kReshape, 1, 1, false},
    {"PAD", OpType::kPad, 1, 1, false},
    // 1.3
    {"TRANSPOSE_CONV", OpType::kTransposeConv, 3, 3, true},
    {"SUB", OpType::kSub, 2, 2, false},
    {"DIV", OpType::kDiv, 2, 2, false},
    {"MAXIMUM", OpType::kMaximum, 2, 2, false},
    {"MINIMUM", OpType::kMinimum, 2, 2, false},
    {"LEAKY_RELU", OpType::kLeakyRelu, 1, 1, false},
    {"PRELU", OpType::kPrelu, 2, 2, false},
    {"RESIZE_BILINEAR", OpType::kResizeBilinear, 1, 1, false},
    {"RESIZE_NEAREST_NEIGHBOR", OpType::kResizeNearestNeighbor, 1, 1, false},
    {"DEPTH_TO_SPACE", OpType::kDepthToSpace, 1, 1, false},
    {"SPACE_TO_DEPTH", OpType::kSpaceToDepth, 1, 1, false},
    {"TRANSPOSE", OpType::kTranspose, 1, 1, false},
    {"SLICE", OpType::kSlice, 1, 1, false},
    {"GATHER", OpType::kGather, 1, 1, false},
    {"QUANTIZE", OpType::kQuantize, 1, 1, false},
};

const OpInfo* FindOp(const std::string& name) {
  for (const OpInfo& op : kOps) {
    if (name == op.name) return &op;
  }
  return nullptr;
}

const char* OpName(OpType type) {
  for (const OpInfo& op : kOps) {
    if (op.type == type) return op.name;
  }
  return "?";
}

// Reads a node's "attrs" object, remembering which keys were consumed so
// that unknown keys can be refused (FORMAT.md: attrs keys are defined per op).
class AttrReader {
 public:
  AttrReader(const json::Ref& attrs, bool present) : attrs_(attrs), present_(present) {}

  Status Find(const char* key, bool required, json::Ref* out, bool* found) {
    used_.insert(key);
    *found = false;
    if (present_) GS_RETURN_IF_ERROR(attrs_.OptionalMember(key, out, found));
    if (!*found && required) {
      return FormatError(attrs_.path() + ": missing required attribute \"" + key + "\"");
    }
    return Status::Ok();
  }
  Status Pair(const char* key, int* a, int* b) {
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(Find(key, true, &r, &found));
    std::vector<int64_t> v;
    GS_RETURN_IF_ERROR(r.GetIntArray(&v, 1, kMaxInt, 2));
    *a = static_cast<int>(v[0]);
    *b = static_cast<int>(v[1]);
    return Status::Ok();
  }
  Status PaddingAttr(Padding* out) {
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(Find("padding", true, &r, &found));
    std::string s;
    GS_RETURN_IF_ERROR(r.GetString(&s));
    if (s == "SAME") {
      *out = Padding::kSame;
    } else if (s == "VALID") {
      *out = Padding::kValid;
    } else {
      return r.Error("expected \"SAME\" or \"VALID\", found \"" + s.substr(0, 40) + "\"");
    }
    return Status::Ok();
  }
  Status ActivationAttr(Activation* out) {
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(Find("activation", false, &r, &found));
    *out = Activation::kNone;
    if (!found) return Status::Ok();
    std::string s;
    GS_RETURN_IF_ERROR(r.GetString(&s));
    if (s == "NONE") {
      *out = Activation::kNone;
    } else if (s == "RELU") {
      *out = Activation::kRelu;
    } else if (s == "RELU6") {
      *out = Activation::kRelu6;
    } else if (s == "RELU_N1_TO_1") {
      *out = Activation::kReluN1To1;
    } else {
      return r.Error("expected one of \"NONE\", \"RELU\", \"RELU6\", \"RELU_N1_TO_1\", found \"" +
                     s.substr(0, 40) + "\"");
    }
    return Status::Ok();
  }
  Status Bool(const char* key, bool* out) {
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(Find(key, true, &r, &found));
    return r.GetBool(out);
  }
  // A number that must fit a float (finite); `required` false keeps *out.
  Status Number(const char* key, bool required, double* out) {
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(Find(key, required, &r, &found));
    if (!found) return Status::Ok();
    double v;
    GS_RETURN_IF_ERROR(r.GetNumber(&v));
    if (!(std::fabs(v) <= std::numeric_limits<float>::max())) {
      return r.Error("value " + Num(v, 17) + " does not fit a float");
    }
    *out = v;
    return Status::Ok();
  }
  Status Float(const char* key, bool required, float* out) {
    double v = *out;
    GS_RETURN_IF_ERROR(Number(key, required, &v));
    *out = static_cast<float>(v);
    return Status::Ok();
  }
  // Refuses keys no getter asked for.
  Status CheckNoUnknown(const std::string& op) const {
    if (!present_) return Status::Ok();
    for (const std::string& key : attrs_.value().keys()) {
      if (used_.count(key) == 0) {
        std::string printable;
        for (char c : key.substr(0, 40)) printable += (c >= 0x20 && c < 0x7F) ? c : '?';
        return FormatError(attrs_.path() + ": unknown attribute \"" + printable + "\" for " +
                           op);
      }
    }
    return Status::Ok();
  }
  const std::string& path() const { return attrs_.path(); }

 private:
  json::Ref attrs_;
  bool present_;
  std::unordered_set<std::string> used_;
};

class ManifestReader {
 public:
  ManifestReader(const Header& header, const std::vector<Section>& sections, const uint8_t* file,
                 ModelDesc* model)
      : header_(header), sections_(sections), file_(file), m_(model) {
    for (const Section& s : sections_) {
      if (s.kind == kKindParams) params_ = &s;
    }
  }

  Status Read(const uint8_t* text, uint64_t size, const std::string& label) {
    if (size > kMaxManifestBytes) {
      return FormatError(label + ": " + std::to_string(size) +
                         " bytes, more than the manifest limit of " +
                         std::to_string(kMaxManifestBytes));
    }
    json::Value root;
    Status s = json::Parse(reinterpret_cast<const char*>(text), static_cast<size_t>(size),
                           &root);
    if (!s.ok()) return FormatError(label + ": invalid manifest: " + s.message());
    if (!root.is_object()) {
      return FormatError(std::string("manifest: expected a JSON object, found ") +
                         root.TypeName());
    }
    root_ = &root;
    GS_RETURN_IF_ERROR(ReadTop());
    GS_RETURN_IF_ERROR(ReadTensors());
    GS_RETURN_IF_ERROR(ReadGraphIo());
    GS_RETURN_IF_ERROR(ReadNodes());
    GS_RETURN_IF_ERROR(ReadStorage());
    GS_RETURN_IF_ERROR(ReadGears());
    return Status::Ok();
  }

 private:
  Status Top(const char* key, json::Ref* out) const {
    const json::Value* v = root_->Find(key);
    if (!v) return FormatError(std::string("manifest: missing required key \"") + key + "\"");
    *out = json::Ref(v, key);
    return Status::Ok();
  }

  std::string TensorLabel(int t) const {
    std::string name = m_->tensors[t].name.substr(0, 60);
    for (char& c : name) {
      if (static_cast<unsigned char>(c) < 0x20) c = '?';
    }
    return "tensor " + std::to_string(t) + " (" + name + ")";
  }

  Status ReadTop() {
    m_->version_major = header_.major;
    m_->version_minor = header_.minor;
    if (const json::Value* p = root_->Find("producer")) {
      GS_RETURN_IF_ERROR(json::Ref(p, "producer").GetString(&m_->producer));
    }
    if (const json::Value* md = root_->Find("metadata")) {
      GS_RETURN_IF_ERROR(json::Ref(md, "metadata").ExpectObject());
    }
    return Status::Ok();
  }

  Status ReadTensors() {
    json::Ref tensors;
    GS_RETURN_IF_ERROR(Top("tensors", &tensors));
    size_t n;
    GS_RETURN_IF_ERROR(tensors.ExpectArray(&n, 0, static_cast<size_t>(kMaxInt)));
    m_->tensors.resize(n);
    std::unordered_map<std::string, int> names;
    names.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const json::Ref t = tensors.Item(i);
      TensorDesc& td = m_->tensors[i];
      GS_RETURN_IF_ERROR(t.ExpectObject());
      json::Ref r;
      GS_RETURN_IF_ERROR(t.Member("name", &r));
      GS_RETURN_IF_ERROR(r.GetString(&td.name));
      if (td.name.empty()) return r.Error("tensor names must be non-empty");
      auto ins = names.emplace(td.name, static_cast<int>(i));
      if (!ins.second) {
        return r.Error("duplicate tensor name, also used by tensors[" +
                       std::to_string(ins.first->second) + "]");
      }
      bool found = false;
      GS_RETURN_IF_ERROR(t.OptionalMember("const", &r, &found));
      if (found) GS_RETURN_IF_ERROR(r.GetBool(&td.is_const));
      GS_RETURN_IF_ERROR(t.Member("shape", &r));
      GS_RETURN_IF_ERROR(r.GetIntArray(&td.shape, -1, std::numeric_limits<int64_t>::max(), -1,
                                       0, kMaxRank));
      for (size_t d = 0; d < td.shape.size(); ++d) {
        const bool batch_ok = d == 0 && !td.is_const;
        if (td.shape[d] < 1 && !(batch_ok && td.shape[d] == -1)) {
          return r.Item(d).Error("dimension is " + std::to_string(td.shape[d]) +
                                 (batch_ok ? "; expected >= 1, or -1 for the batch"
                                           : "; expected >= 1"));
        }
      }
      int64_t bytes;
      if (!ByteCount(td.shape, 4, &bytes)) {
        return r.Error("element count of shape " + ShapeStr(td.shape) +
                       " times 4 bytes overflows a 64-bit integer");
      }
      GS_RETURN_IF_ERROR(t.Member("dtype", &r));
      std::string dtype;
      GS_RETURN_IF_ERROR(r.GetString(&dtype));
      if (dtype != "f32") {
        return r.Error("expected \"f32\" (the only graph dtype of format 1.0), found \"" +
                       dtype.substr(0, 40) + "\"");
      }
      td.dtype = DType::kF32;
      GS_RETURN_IF_ERROR(t.OptionalMember("io", &r, &found));
      if (found) GS_RETURN_IF_ERROR(ReadIo(r, &td.io));
    }
    return Status::Ok();
  }

  // 1.4: a graph input/output's interface, {"dtype": "i8"|"u8", "scale",
  // "zero_point"} (FORMAT.md "Tensors"). ReadGraphIo checks where it sits.
  static Status ReadIo(const json::Ref& io, IoDesc* out) {
    GS_RETURN_IF_ERROR(io.ExpectObject());
    json::Ref r;
    GS_RETURN_IF_ERROR(io.Member("dtype", &r));
    std::string dtype;
    GS_RETURN_IF_ERROR(r.GetString(&dtype));
    int zp_min = -128, zp_max = 127;
    if (dtype == "i8") {
      out->dtype = DType::kI8;
    } else if (dtype == "u8") {
      out->dtype = DType::kU8;
      zp_min = 0;
      zp_max = 255;
    } else {
      return r.Error("expected \"i8\" or \"u8\", found \"" + Printable(dtype.substr(0, 40)) + "\"");
    }
    GS_RETURN_IF_ERROR(io.Member("scale", &r));
    GS_RETURN_IF_ERROR(ReadScale(r, &out->scale));
    GS_RETURN_IF_ERROR(io.Member("zero_point", &r));
    GS_RETURN_IF_ERROR(r.GetInt(&out->zero_point, zp_min, zp_max));
    return Status::Ok();
  }

  Status ReadIndexList(const char* key, std::vector<int>* out, size_t min_size) {
    json::Ref r;
    GS_RETURN_IF_ERROR(Top(key, &r));
    std::vector<int64_t> v;
    const int64_t nt = static_cast<int64_t>(m_->tensors.size());
    if (!r->is_array()) {
      return r.Error(std::string("expected array of tensor indices, found ") + r->TypeName());
    }
    if (r->size() < min_size) return r.Error("the graph has no outputs");
    GS_RETURN_IF_ERROR(r.GetIntArray(&v, 0, nt - 1));
    std::vector<char> seen(m_->tensors.size(), 0);
    for (size_t i = 0; i < v.size(); ++i) {
      if (seen[v[i]]) {
        return r.Item(i).Error("tensor " + std::to_string(v[i]) + " is listed twice");
      }
      seen[v[i]] = 1;
      out->push_back(static_cast<int>(v[i]));
    }
    return Status::Ok();
  }

  Status ReadGraphIo() {
    GS_RETURN_IF_ERROR(ReadIndexList("inputs", &m_->inputs, 0));
    GS_RETURN_IF_ERROR(ReadIndexList("outputs", &m_->outputs, 1));
    is_input_.assign(m_->tensors.size(), 0);
    for (size_t i = 0; i < m_->inputs.size(); ++i) {
      const int t = m_->inputs[i];
      if (m_->tensors[t].is_const) {
        return FormatError("inputs[" + std::to_string(i) + "]: " + TensorLabel(t) +
                           " is a constant; graph inputs cannot be constant");
      }
      is_input_[t] = 1;
    }
    // An `io` only on graph inputs and outputs: elsewhere it would mean nothing.
    std::vector<char> is_io(is_input_);
    for (int t : m_->outputs) is_io[t] = 1;
    for (size_t t = 0; t < m_->tensors.size(); ++t) {
      if (m_->tensors[t].io.dtype != DType::kF32 && !is_io[t]) {
        return FormatError("tensors[" + std::to_string(t) +
                           "].io: " + TensorLabel(static_cast<int>(t)) +
                           " is not a graph input or output; only those carry \"io\"");
      }
    }
    return Status::Ok();
  }

  Status ReadNodes() {
    json::Ref nodes;
    GS_RETURN_IF_ERROR(Top("nodes", &nodes));
    size_t n;
    GS_RETURN_IF_ERROR(nodes.ExpectArray(&n, 0, static_cast<size_t>(kMaxInt)));
    const size_t nt = m_->tensors.size();
    // available[t]: a graph input, a constant, or produced by an earlier node.
    std::vector<char> available(nt, 0);
    producer_.assign(nt, -1);
    for (size_t t = 0; t < nt; ++t) available[t] = m_->tensors[t].is_const || is_input_[t];
    m_->nodes.resize(n);
    for (size_t k = 0; k < n; ++k) {
      const json::Ref node = nodes.Item(k);
      NodeDesc& nd = m_->nodes[k];
      GS_RETURN_IF_ERROR(node.ExpectObject());
      json::Ref r;
      GS_RETURN_IF_ERROR(node.Member("name", &r));
      GS_RETURN_IF_ERROR(r.GetString(&nd.name));
      std::string printable;
      for (char c : nd.name.substr(0, 60)) {
        printable += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
      }
      const std::string label = node.path() + " (" + printable + ")";
      GS_RETURN_IF_ERROR(node.Member("op", &r));
      std::string op_name;
      GS_RETURN_IF_ERROR(r.GetString(&op_name));
      const OpInfo* op = FindOp(op_name);
      if (!op) {
        return FormatError(label + ": unknown op \"" + op_name.substr(0, 40) + "\"");
      }
      nd.op = op->type;

      std::vector<int64_t> ins, outs;
      GS_RETURN_IF_ERROR(node.Member("inputs", &r));
      GS_RETURN_IF_ERROR(r.GetIntArray(&ins, -1, static_cast<int64_t>(nt) - 1));
      if (static_cast<int>(ins.size()) < op->min_inputs ||
          (op->max_inputs >= 0 && static_cast<int>(ins.size()) > op->max_inputs)) {
        std::string want = op->max_inputs < 0 ? "at least " + std::to_string(op->min_inputs)
                           : op->min_inputs == op->max_inputs
                               ? std::to_string(op->min_inputs)
                               : std::to_string(op->min_inputs) + ".." +
                                     std::to_string(op->max_inputs);
        return FormatError(label + ": " + op->name + " takes " + want + " inputs, found " +
                           std::to_string(ins.size()));
      }
      for (size_t j = 0; j < ins.size(); ++j) {
        const int64_t t = ins[j];
        if (t == -1) {
          if (op->optional_third && j == 2) continue;
          return FormatError(label + ": inputs[" + std::to_string(j) + "] of " + op->name +
                             " is required; -1 (absent) is only allowed for the bias");
        }
        if (!available[t]) {
          return FormatError(label + ": inputs[" + std::to_string(j) + "]: " +
                             TensorLabel(static_cast<int>(t)) +
                             " is not a graph input, a constant, or an output of an earlier "
                             "node (nodes must be in topological order)");
        }
      }
      GS_RETURN_IF_ERROR(node.Member("outputs", &r));
      GS_RETURN_IF_ERROR(r.GetIntArray(&outs, 0, static_cast<int64_t>(nt) - 1));
      if (outs.size() != 1) {
        return FormatError(label + ": " + op->name + " has exactly 1 output, found " +
                           std::to_string(outs.size()));
      }
      for (size_t j = 0; j < outs.size(); ++j) {
        const int t = static_cast<int>(outs[j]);
        const std::string where = label + ": outputs[" + std::to_string(j) + "]: ";
        if (m_->tensors[t].is_const) {
          return FormatError(where + TensorLabel(t) + " is a constant; nodes cannot write it");
        }
        if (is_input_[t]) {
          return FormatError(where + TensorLabel(t) + " is a graph input; nodes cannot write it");
        }
        if (producer_[t] >= 0) {
          return FormatError(where + TensorLabel(t) + " is already produced by nodes[" +
                             std::to_string(producer_[t]) + "]");
        }
        producer_[t] = static_cast<int>(k);
        available[t] = 1;
      }
      for (int64_t t : ins) nd.inputs.push_back(static_cast<int>(t));
      for (int64_t t : outs) nd.outputs.push_back(static_cast<int>(t));

      bool has_attrs = false;
      json::Ref attrs;
      GS_RETURN_IF_ERROR(node.OptionalMember("attrs", &attrs, &has_attrs));
      if (has_attrs) GS_RETURN_IF_ERROR(attrs.ExpectObject());
      if (!has_attrs) attrs = json::Ref(nullptr, node.path() + ".attrs");
      AttrReader ar(attrs, has_attrs);
      GS_RETURN_IF_ERROR(ReadAttrs(*op, label, &ar, &nd));
      GS_RETURN_IF_ERROR(ar.CheckNoUnknown(op->name));
      GS_RETURN_IF_ERROR(StaticChecks(*op, label, nd));
    }
    for (size_t t = 0; t < nt; ++t) {
      if (!m_->tensors[t].is_const && !is_input_[t] && producer_[t] < 0) {
        return FormatError("tensors[" + std::to_string(t) + "] (" +
                           m_->tensors[t].name.substr(0, 60) + "): not a constant, not a graph input, and produced by no node");
      }
    }
    return Status::Ok();
  }

  const Shape& ShapeOf(int t) const { return m_->tensors[t].shape; }

  Status ReadAttrs(const OpInfo& op, const std::string& label, AttrReader* ar, NodeDesc* nd) {
    NodeAttrs& a = nd->attrs;
    json::Ref r;
    bool found;
    switch (op.type) {
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D:
        GS_RETURN_IF_ERROR(ar->Pair("stride", &a.stride_h, &a.stride_w));
        GS_RETURN_IF_ERROR(ar->Pair("dilation", &a.dilation_h, &a.dilation_w));
        GS_RETURN_IF_ERROR(ar->PaddingAttr(&a.padding));
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        if (op.type == OpType::kDepthwiseConv2D) {
          GS_RETURN_IF_ERROR(ar->Find("depth_multiplier", true, &r, &found));
          GS_RETURN_IF_ERROR(r.GetInt(&a.depth_multiplier, 1, static_cast<int>(kMaxInt)));
        }
        break;
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D:
        GS_RETURN_IF_ERROR(ar->Pair("filter", &a.filter_h, &a.filter_w));
        GS_RETURN_IF_ERROR(ar->Pair("stride", &a.stride_h, &a.stride_w));
        GS_RETURN_IF_ERROR(ar->PaddingAttr(&a.padding));
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        break;
      case OpType::kFullyConnected:
      case OpType::kAdd:
      case OpType::kMul:
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        break;
      case OpType::kMean: {
        const int64_t rank = static_cast<int64_t>(ShapeOf(nd->inputs[0]).size());
        GS_RETURN_IF_ERROR(ar->Find("axes", true, &r, &found));
        std::vector<int64_t> axes;
        GS_RETURN_IF_ERROR(r.GetIntArray(&axes, 0, kMaxInt, -1, 0, kMaxRank));
        for (size_t i = 0; i < axes.size(); ++i) {
          if (axes[i] >= rank) {
            return r.Item(i).Error("axis " + std::to_string(axes[i]) +
                                   " out of range for the input of rank " +
                                   std::to_string(rank));
          }
          for (size_t j = 0; j < i; ++j) {
            if (axes[j] == axes[i]) {
              return r.Item(i).Error("axis " + std::to_string(axes[i]) + " is repeated");
            }
          }
          a.axes.push_back(static_cast<int>(axes[i]));
        }
        GS_RETURN_IF_ERROR(ar->Find("keep_dims", true, &r, &found));
        GS_RETURN_IF_ERROR(r.GetBool(&a.keep_dims));
        break;
      }
      case OpType::kSoftmax:
        GS_RETURN_IF_ERROR(ar->Find("beta", false, &r, &found));
        if (found) {
          double beta;
          GS_RETURN_IF_ERROR(r.GetNumber(&beta));
          if (!(std::fabs(beta) <= std::numeric_limits<float>::max())) {
            return r.Error("beta " + std::to_string(beta) + " does not fit a float");
          }
          a.beta = static_cast<float>(beta);
        }
        break;
      case OpType::kConcatenation: {
        const int64_t rank = static_cast<int64_t>(ShapeOf(nd->inputs[0]).size());
        GS_RETURN_IF_ERROR(ar->Find("axis", true, &r, &found));
        int64_t axis;
        GS_RETURN_IF_ERROR(r.GetInt(&axis, 0, kMaxInt));
        if (axis >= rank) {
          return r.Error("axis " + std::to_string(axis) + " out of range for inputs of rank " +
                         std::to_string(rank));
        }
        a.axis = static_cast<int>(axis);
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        break;
      }
      case OpType::kReshape: {
        GS_RETURN_IF_ERROR(ar->Find("shape", true, &r, &found));
        GS_RETURN_IF_ERROR(r.GetIntArray(&a.shape, -1, std::numeric_limits<int64_t>::max(),
                                         -1, 0, kMaxRank - 1));
        int inferred = 0;
        for (size_t i = 0; i < a.shape.size(); ++i) {
          if (a.shape[i] == 0) return r.Item(i).Error("dimension 0 is not allowed");
          if (a.shape[i] == -1 && ++inferred > 1) {
            return r.Item(i).Error("at most one dimension may be -1");
          }
        }
        int64_t bytes;
        if (!ByteCount(a.shape, 4, &bytes)) {
          return r.Error("element count of " + ShapeStr(a.shape) + " overflows");
        }
        break;
      }
      case OpType::kPad: {
        const size_t rank = ShapeOf(nd->inputs[0]).size();
        GS_RETURN_IF_ERROR(ar->Find("paddings", true, &r, &found));
        size_t n;
        if (!r->is_array()) {
          return r.Error(std::string("expected array of [before, after] pairs, found ") +
                         r->TypeName());
        }
        GS_RETURN_IF_ERROR(r.ExpectArray(&n, rank, rank));
        for (size_t i = 0; i < n; ++i) {
          std::vector<int64_t> pair;
          GS_RETURN_IF_ERROR(r.Item(i).GetIntArray(&pair, 0, kMaxInt, 2));
          a.paddings.emplace_back(pair[0], pair[1]);
        }
        GS_RETURN_IF_ERROR(ar->Number("value", false, &a.pad_value));  // 1.3
        break;
      }
      case OpType::kTransposeConv:
        GS_RETURN_IF_ERROR(ar->Pair("stride", &a.stride_h, &a.stride_w));
        GS_RETURN_IF_ERROR(ar->PaddingAttr(&a.padding));
        GS_RETURN_IF_ERROR(ar->Pair("output_size", &a.size_h, &a.size_w));
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        break;
      case OpType::kSub:
      case OpType::kDiv:
        GS_RETURN_IF_ERROR(ar->ActivationAttr(&a.activation));
        break;
      case OpType::kLeakyRelu:
        GS_RETURN_IF_ERROR(ar->Float("alpha", true, &a.alpha));
        break;
      case OpType::kResizeBilinear:
      case OpType::kResizeNearestNeighbor:
        GS_RETURN_IF_ERROR(ar->Pair("size", &a.size_h, &a.size_w));
        GS_RETURN_IF_ERROR(ar->Bool("align_corners", &a.align_corners));
        GS_RETURN_IF_ERROR(ar->Bool("half_pixel_centers", &a.half_pixel_centers));
        if (a.align_corners && a.half_pixel_centers) {
          return FormatError(ar->path() +
                             ": align_corners and half_pixel_centers cannot both be true");
        }
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
        GS_RETURN_IF_ERROR(ar->Find("block_size", true, &r, &found));
        GS_RETURN_IF_ERROR(r.GetInt(&a.block_size, 1, static_cast<int>(kMaxInt)));
        break;
      case OpType::kTranspose: {
        const size_t rank = ShapeOf(nd->inputs[0]).size();
        GS_RETURN_IF_ERROR(ar->Find("perm", true, &r, &found));
        std::vector<int64_t> perm;
        GS_RETURN_IF_ERROR(r.GetIntArray(&perm, 0, kMaxInt, static_cast<long>(rank)));
        std::vector<char> seen(rank, 0);
        for (size_t i = 0; i < perm.size(); ++i) {
          if (perm[i] >= static_cast<int64_t>(rank) || seen[perm[i]]) {
            return r.Error("expected a permutation of 0.." + std::to_string(rank - 1) +
                           ", found " + ShapeStr(perm));
          }
          seen[perm[i]] = 1;
          a.perm.push_back(static_cast<int>(perm[i]));
        }
        // The batch (axis 0) never moves (FORMAT.md "Ops added in 1.3").
        if (rank > 0 && perm[0] != 0) {
          return r.Error("perm[0] must be 0 (the batch axis stays first), found " +
                         std::to_string(perm[0]));
        }
        break;
      }
      case OpType::kSlice: {
        const Shape& x = ShapeOf(nd->inputs[0]);
        if (x.empty()) return FormatError(label + ": SLICE input must have rank >= 1");
        const long n = static_cast<long>(x.size()) - 1;
        json::Ref rb, re, rs;
        GS_RETURN_IF_ERROR(ar->Find("begin", true, &rb, &found));
        GS_RETURN_IF_ERROR(rb.GetIntArray(&a.begin, 0, std::numeric_limits<int64_t>::max(), n));
        GS_RETURN_IF_ERROR(ar->Find("end", true, &re, &found));
        GS_RETURN_IF_ERROR(re.GetIntArray(&a.end, 0, std::numeric_limits<int64_t>::max(), n));
        GS_RETURN_IF_ERROR(ar->Find("strides", true, &rs, &found));
        GS_RETURN_IF_ERROR(rs.GetIntArray(&a.strides, 1, kMaxInt, n));
        for (long i = 0; i < n; ++i) {
          const int64_t dim = x[i + 1];
          if (!(a.begin[i] < a.end[i] && a.end[i] <= dim)) {
            return rb.Item(static_cast<size_t>(i))
                .Error("slice [" + std::to_string(a.begin[i]) + ", " + std::to_string(a.end[i]) +
                       ") of axis " + std::to_string(i + 1) + " is not inside [0, " +
                       std::to_string(dim) + ") or is empty");
          }
        }
        break;
      }
      case OpType::kGather: {
        const Shape& x = ShapeOf(nd->inputs[0]);
        GS_RETURN_IF_ERROR(ar->Find("axis", true, &r, &found));
        int64_t axis;
        GS_RETURN_IF_ERROR(r.GetInt(&axis, 1, kMaxInt));
        if (axis >= static_cast<int64_t>(x.size())) {
          return r.Error("axis " + std::to_string(axis) + " out of range [1, " +
                         std::to_string(x.size()) + ") for the input " + ShapeStr(x));
        }
        a.axis = static_cast<int>(axis);
        GS_RETURN_IF_ERROR(ar->Find("indices", true, &r, &found));
        GS_RETURN_IF_ERROR(r.GetIntArray(&a.indices, 0, x[axis] - 1, -1, 1));
        break;
      }
      case OpType::kMaximum:
      case OpType::kMinimum:
      case OpType::kPrelu:
      case OpType::kQuantize:
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        break;
    }
    (void)label;
    return Status::Ok();
  }

  // Shape facts that hold for every batch size; full inference is step 4.
  Status StaticChecks(const OpInfo& op, const std::string& label, const NodeDesc& nd) const {
    auto fail = [&](const std::string& what) {
      return FormatError(label + ": " + op.name + " " + what);
    };
    const auto& in = nd.inputs;
    switch (op.type) {
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D: {
        const Shape& x = ShapeOf(in[0]);
        const Shape& f = ShapeOf(in[1]);
        if (x.size() != 4) return fail("input shape " + ShapeStr(x) + " must have rank 4 (NHWC)");
        if (f.size() != 4) return fail("filter shape " + ShapeStr(f) + " must have rank 4");
        int64_t out_channels = f[0];
        if (op.type == OpType::kConv2D) {
          if (f[3] != x[3]) {
            return fail("filter shape " + ShapeStr(f) + " has " + std::to_string(f[3]) +
                        " input channels, the input " + ShapeStr(x) + " has " +
                        std::to_string(x[3]));
          }
        } else {
          out_channels = f[3];
          if (f[0] != 1) return fail("filter shape " + ShapeStr(f) + " must start with 1");
          if (x[3] > std::numeric_limits<int64_t>::max() / nd.attrs.depth_multiplier ||
              f[3] != x[3] * nd.attrs.depth_multiplier) {
            return fail("filter shape " + ShapeStr(f) + " must have C*M = " +
                        std::to_string(x[3]) + "*" +
                        std::to_string(nd.attrs.depth_multiplier) + " channels");
          }
        }
        if (in[2] >= 0) {
          const Shape& b = ShapeOf(in[2]);
          if (b.size() != 1 || b[0] != out_channels) {
            return fail("bias shape " + ShapeStr(b) + " must be [" +
                        std::to_string(out_channels) + "]");
          }
        }
        break;
      }
      case OpType::kFullyConnected: {
        const Shape& x = ShapeOf(in[0]);
        const Shape& w = ShapeOf(in[1]);
        if (w.size() != 2) return fail("weights shape " + ShapeStr(w) + " must have rank 2");
        if (x.empty()) return fail("input must have rank >= 1");
        if (x.back() != -1 && x.back() != w[1]) {
          return fail("weights shape " + ShapeStr(w) + " does not match the input's last "
                      "dimension " + std::to_string(x.back()));
        }
        if (in[2] >= 0) {
          const Shape& b = ShapeOf(in[2]);
          if (b.size() != 1 || b[0] != w[0]) {
            return fail("bias shape " + ShapeStr(b) + " must be [" + std::to_string(w[0]) + "]");
          }
        }
        break;
      }
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D:
        if (ShapeOf(in[0]).size() != 4) {
          return fail("input shape " + ShapeStr(ShapeOf(in[0])) + " must have rank 4 (NHWC)");
        }
        break;
      case OpType::kTransposeConv: {
        const Shape& x = ShapeOf(in[0]);
        const Shape& f = ShapeOf(in[1]);
        if (x.size() != 4) return fail("input shape " + ShapeStr(x) + " must have rank 4 (NHWC)");
        if (f.size() != 4) return fail("filter shape " + ShapeStr(f) + " must have rank 4");
        if (f[3] != x[3]) {
          return fail("filter shape " + ShapeStr(f) + " has " + std::to_string(f[3]) +
                      " input channels, the input " + ShapeStr(x) + " has " +
                      std::to_string(x[3]));
        }
        if (in[2] >= 0) {
          const Shape& b = ShapeOf(in[2]);
          if (b.size() != 1 || b[0] != f[0]) {
            return fail("bias shape " + ShapeStr(b) + " must be [" + std::to_string(f[0]) + "]");
          }
        }
        break;
      }
      case OpType::kPrelu: {
        if (!m_->tensors[in[1]].is_const) {
          return fail("alpha (inputs[1]) must be a constant, found " + TensorLabel(in[1]));
        }
        // FORMAT.md: alpha broadcasts to x as ADD's operands do (trailing
        // dimensions equal or 1; the batch, -1, takes any). Known without a
        // batch size, so refused at load rather than at the first Prepare.
        const Shape& x = ShapeOf(in[0]);
        const Shape& a = ShapeOf(in[1]);
        bool fits = a.size() <= x.size();
        for (size_t i = 0; fits && i < a.size(); ++i) {
          const int64_t d = a[a.size() - 1 - i];
          const int64_t xd = x[x.size() - 1 - i];
          fits = d == 1 || d == xd || xd == -1;
        }
        if (!fits) {
          return fail("alpha shape " + ShapeStr(a) + " does not broadcast to the input " +
                      ShapeStr(x));
        }
        break;
      }
      case OpType::kResizeBilinear:
      case OpType::kResizeNearestNeighbor:
        if (ShapeOf(in[0]).size() != 4) {
          return fail("input shape " + ShapeStr(ShapeOf(in[0])) + " must have rank 4 (NHWC)");
        }
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth: {
        const Shape& x = ShapeOf(in[0]);
        if (x.size() != 4) return fail("input shape " + ShapeStr(x) + " must have rank 4 (NHWC)");
        const int64_t b = nd.attrs.block_size;
        if (op.type == OpType::kDepthToSpace) {
          // b <= 2^31 - 1, so b * b fits int64.
          if (x[3] % (b * b) != 0) {
            return fail("block_size " + std::to_string(b) + ": input channels " +
                        std::to_string(x[3]) + " are not a multiple of block_size^2");
          }
        } else if (x[1] % b != 0 || x[2] % b != 0) {
          return fail("block_size " + std::to_string(b) + " does not divide the input's height "
                      "and width " + ShapeStr(x));
        }
        break;
      }
      case OpType::kConcatenation:
        for (size_t j = 1; j < in.size(); ++j) {
          if (ShapeOf(in[j]).size() != ShapeOf(in[0]).size()) {
            return fail("inputs[" + std::to_string(j) + "] shape " + ShapeStr(ShapeOf(in[j])) +
                        " has a different rank than inputs[0] " + ShapeStr(ShapeOf(in[0])));
          }
        }
        break;
      default:
        break;
    }
    return Status::Ok();
  }

  // ---- storage (FORMAT.md "Storage") ----------------------------------------

  Status ReadStorage() {
    json::Ref storage;
    GS_RETURN_IF_ERROR(Top("storage", &storage));
    size_t n;
    GS_RETURN_IF_ERROR(storage.ExpectArray(&n, 0, static_cast<size_t>(kMaxInt)));
    m_->storage.resize(n);
    for (size_t k = 0; k < n; ++k) {
      GS_RETURN_IF_ERROR(ReadStorageEntry(storage.Item(k), &m_->storage[k]));
    }
    // Bases may come later in the array, so they are resolved in a second pass.
    for (size_t k = 0; k < n; ++k) {
      StorageDesc& sd = m_->storage[k];
      if (!IsResidualEncoding(sd.encoding) && sd.encoding != Encoding::kQ4M) continue;
      const std::string path = "storage[" + std::to_string(k) + "].base";
      const StorageDesc& b = m_->storage[sd.base];
      const std::string bl = "storage[" + std::to_string(sd.base) + "]";
      if (b.dtype != StorageDType::kI8 ||
          (b.encoding != Encoding::kDense && !IsSparseEncoding(b.encoding))) {
        return FormatError(path + ": " + bl + " is " + DTypeName(b.dtype) + " " +
                           EncodingName(b.encoding) +
                           "; a base must be an i8 entry (dense, bitmap, csr or 2:4)");
      }
      if (b.quant.axis < 0) {
        return FormatError(path + ": " + bl +
                           " is quantized per tensor (quant.axis null); a base must be "
                           "quantized per channel");
      }
      if (b.shape != sd.shape) {
        return FormatError(path + ": " + bl + " has shape " + ShapeStr(b.shape) +
                           ", this entry " + ShapeStr(sd.shape) + "; they must be equal");
      }
      if (sd.encoding == Encoding::kQ4M) {
        if (sd.quant.present && (sd.quant.axis != b.quant.axis || sd.quant.scale != b.quant.scale ||
                                 sd.quant.zero_point != b.quant.zero_point)) {
          return FormatError("storage[" + std::to_string(k) + "].quant: differs from " + bl +
                             ".quant; a q4m entry's quant is its base's (omit it)");
        }
        sd.quant = b.quant;
      }
      if (IsResidualEncoding(sd.encoding)) {
        // One nibble (q8r4) or byte (q8r8) per value the base stores (a
        // pruned weight stays 0).
        const int64_t slots = SlotCount(b.encoding, b.shape, b.nnz);
        const bool nibbles = ResidualBits(sd.encoding) == 4;
        const uint64_t need = static_cast<uint64_t>(nibbles ? slots / 2 + slots % 2 : slots);
        if (sd.length != need) {
          std::string what =
              std::string(nibbles ? "one nibble" : "one byte") + " per value stored by " + bl;
          if (b.encoding != Encoding::kDense) {
            what += std::string(" (") + EncodingName(b.encoding) + ", " + std::to_string(slots) +
                    " slots)";
          }
          return FormatError("storage[" + std::to_string(k) + "].length: " +
                             std::to_string(sd.length) + " bytes, but " +
                             EncodingName(sd.encoding) + " f32 " + ShapeStr(sd.shape) + " needs " +
                             std::to_string(need) + " (" + what + ")");
        }
      }
    }
    // Contents of sparse payloads: after every field is known, as the Python reader.
    for (size_t k = 0; k < n; ++k) {
      const StorageDesc& sd = m_->storage[k];
      if (!IsSparseEncoding(sd.encoding)) continue;
      const Status st = CheckSparsePayload(sd);
      if (!st.ok()) return FormatError("storage[" + std::to_string(k) + "]: " + st.message());
    }
    return Status::Ok();
  }

  Status ReadStorageEntry(const json::Ref& s, StorageDesc* sd) {
    GS_RETURN_IF_ERROR(s.ExpectObject());
    json::Ref r;
    std::string str;
    GS_RETURN_IF_ERROR(s.Member("dtype", &r));
    GS_RETURN_IF_ERROR(r.GetString(&str));
    if (!ParseStorageDType(str, &sd->dtype)) {
      return r.Error("unknown storage dtype \"" + str.substr(0, 40) +
                     "\" (known: f32, f16, i8, i32)");
    }
    GS_RETURN_IF_ERROR(s.Member("encoding", &r));
    GS_RETURN_IF_ERROR(r.GetString(&str));
    if (str == "dense") {
      sd->encoding = Encoding::kDense;
    } else if (str == "q8r4") {
      sd->encoding = Encoding::kQ8R4;
    } else if (str == "q8r8") {
      sd->encoding = Encoding::kQ8R8;
    } else if (str == "q4m") {
      sd->encoding = Encoding::kQ4M;
    } else if (str == "bitmap") {
      sd->encoding = Encoding::kBitmap;
    } else if (str == "csr") {
      sd->encoding = Encoding::kCsr;
    } else if (str == "2:4") {
      sd->encoding = Encoding::kTwoFour;
    } else {
      return r.Error("unknown encoding \"" + str.substr(0, 40) +
                     "\" (known: dense, q8r4, q8r8, q4m, bitmap, csr, 2:4)");
    }
    const bool sparse = IsSparseEncoding(sd->encoding);
    if (sparse && sd->dtype != StorageDType::kI8) {
      return r.Error("encoding \"" + str + "\" yields i8 values, but dtype is \"" +
                     DTypeName(sd->dtype) + "\"");
    }
    if (IsResidualEncoding(sd->encoding) && sd->dtype != StorageDType::kF32) {
      return r.Error("encoding \"" + str + "\" yields f32 values, but dtype is \"" +
                     DTypeName(sd->dtype) + "\"");
    }
    if (sd->encoding == Encoding::kQ4M && sd->dtype != StorageDType::kI8) {
      return r.Error(std::string("encoding \"q4m\" yields i8 values, but dtype is \"") +
                     DTypeName(sd->dtype) + "\"");
    }
    GS_RETURN_IF_ERROR(s.Member("shape", &r));
    GS_RETURN_IF_ERROR(
        r.GetIntArray(&sd->shape, 1, std::numeric_limits<int64_t>::max(), -1, 0, kMaxRank));
    int64_t bytes;
    if (!ByteCount(sd->shape, DTypeSize(sd->dtype), &bytes)) {
      return r.Error("element count of shape " + ShapeStr(sd->shape) + " times " +
                     std::to_string(DTypeSize(sd->dtype)) +
                     " bytes overflows a 64-bit integer");
    }

    bool found = false;
    if (sd->encoding == Encoding::kQ4M) {
      // The int4 view has no payload; only its block length.
      for (const char* key : {"section", "offset"}) {
        GS_RETURN_IF_ERROR(s.OptionalMember(key, &r, &found));
        if (found) return r.Error("must be absent: a q4m entry has no payload");
      }
      GS_RETURN_IF_ERROR(s.OptionalMember("length", &r, &found));
      if (found) {
        int64_t v;
        GS_RETURN_IF_ERROR(r.GetInt(&v));
        if (v != 0) {
          return r.Error("a q4m entry has no payload; length must be absent or 0, found " +
                         std::to_string(v));
        }
      }
      GS_RETURN_IF_ERROR(s.Member("block", &r));
      GS_RETURN_IF_ERROR(r.GetInt(&sd->block, 1, 65536));
    } else {
      int64_t v;
      GS_RETURN_IF_ERROR(s.Member("section", &r));
      GS_RETURN_IF_ERROR(r.GetInt(&v, 0, static_cast<int64_t>(sections_.size()) - 1));
      const Section& sec = sections_[v];
      if (sec.kind != kKindTensorData) {
        return r.Error(sec.label + " is not a TENSOR_DATA section");
      }
      sd->section = static_cast<int>(v);
      GS_RETURN_IF_ERROR(s.Member("offset", &r));
      GS_RETURN_IF_ERROR(r.GetInt(&v, 0));
      sd->offset = static_cast<uint64_t>(v);
      if (sd->offset % header_.alignment != 0) {
        return r.Error("offset " + std::to_string(v) + " is not a multiple of the alignment " +
                       std::to_string(header_.alignment));
      }
      GS_RETURN_IF_ERROR(s.Member("length", &r));
      GS_RETURN_IF_ERROR(r.GetInt(&v, 0));
      sd->length = static_cast<uint64_t>(v);
      if (sd->offset > sec.size || sd->length > sec.size - sd->offset) {
        return FormatError(s.path() + ": bytes [" + std::to_string(sd->offset) + ", +" +
                           std::to_string(sd->length) + ") lie outside " + sec.label + " of " +
                           std::to_string(sec.size) + " bytes");
      }
      // A residual's length depends on its base, sparse lengths on nnz and quant:
      // both are checked once those are known (ReadStorage, below).
      const int64_t need = bytes;
      if (sd->encoding == Encoding::kDense && sd->length != static_cast<uint64_t>(need)) {
        return FormatError(s.path() + ".length: " + std::to_string(sd->length) + " bytes, but " +
                           EncodingName(sd->encoding) + " " + DTypeName(sd->dtype) + " " +
                           ShapeStr(sd->shape) + " needs " + std::to_string(need));
      }
      sd->data = file_ + sec.offset + sd->offset;
    }
    if (IsResidualEncoding(sd->encoding) || sd->encoding == Encoding::kQ4M) {
      GS_RETURN_IF_ERROR(s.Member("base", &r));
      GS_RETURN_IF_ERROR(r.GetInt(&sd->base, 0, static_cast<int>(m_->storage.size()) - 1));
    } else {
      // FORMAT.md "Storage": `base` is for q8r4, q8r8 and q4m only. A dense or
      // sparse entry that names one is refused rather than ignored: a writer
      // that meant a derived entry would otherwise be read as something else.
      GS_RETURN_IF_ERROR(s.OptionalMember("base", &r, &found));
      if (found) return r.Error("only q8r4, q8r8 and q4m entries have a base");
    }
    GS_RETURN_IF_ERROR(s.OptionalMember("nnz", &r, &found));
    if (sparse) {
      GS_RETURN_IF_ERROR(s.Member("nnz", &r));
      const int64_t most = MaxNnz(sd->encoding, sd->shape);
      GS_RETURN_IF_ERROR(r.GetInt(&sd->nnz));
      if (sd->nnz < 0 || sd->nnz > most) {
        return r.Error("expected an integer in [0, " + std::to_string(most) + "], found " +
                       std::to_string(sd->nnz));
      }
    } else if (found) {
      return r.Error("only bitmap, csr and 2:4 entries have nnz");
    }

    GS_RETURN_IF_ERROR(s.OptionalMember("quant", &r, &found));
    const bool has_quant = found && !r->is_null();
    const bool integer = sd->dtype == StorageDType::kI8 || sd->dtype == StorageDType::kI32;
    if (!integer && has_quant) {
      return r.Error(std::string("must be absent or null for ") + DTypeName(sd->dtype) +
                     " storage");
    }
    if (has_quant) {
      GS_RETURN_IF_ERROR(ReadQuant(r, sd));
    } else if (integer && sd->encoding != Encoding::kQ4M) {
      return FormatError(s.path() + ": an " + DTypeName(sd->dtype) +
                         " entry needs \"quant\" (scale and zero point)");
    }
    if (sparse) {
      if (sd->quant.axis < 0) {
        return FormatError(s.path() + ".quant.axis: a " + EncodingName(sd->encoding) +
                           " entry needs per-channel quant (the rows are channels), found null");
      }
      if (sd->encoding == Encoding::kTwoFour && !TwoFourApplies(sd->shape, sd->quant.axis)) {
        return FormatError(s.path() +
                           ".encoding: 2:4 needs a CONV_2D/FULLY_CONNECTED weight (channel axis "
                           "0) whose last dimension is a multiple of 4, found axis " +
                           std::to_string(sd->quant.axis) + " and shape " + ShapeStr(sd->shape));
      }
      const uint64_t need = SparseLength(sd->encoding, sd->shape, sd->quant.axis, sd->nnz);
      if (sd->length != need) {
        return FormatError(s.path() + ".length: " + std::to_string(sd->length) + " bytes, but " +
                           EncodingName(sd->encoding) + " i8 " + ShapeStr(sd->shape) +
                           " with nnz " + std::to_string(sd->nnz) + " needs " +
                           std::to_string(need));
      }
      // A tiny payload must not describe a huge tensor (csr with few rows and
      // non-zeros): decoding it would allocate that tensor (FORMAT.md).
      const uint64_t most_values = kSparseValuesPerByte * std::max<uint64_t>(need, 64);
      uint64_t values = 1;  // saturating: dims are checked, their product is not
      for (int64_t d : sd->shape) {
        const auto u = static_cast<uint64_t>(d);
        values = (u != 0 && values > UINT64_MAX / u) ? UINT64_MAX : values * u;
      }
      if (values > most_values) {
        return FormatError(s.path() + ": a " + EncodingName(sd->encoding) + " entry of " +
                           std::to_string(need) + " bytes describes " + std::to_string(values) +
                           " values; at most " + std::to_string(most_values) +
                           " (1024 per payload byte, 64 bytes min)");
      }
    }
    return Status::Ok();
  }

  // A storage entry's quant object: {"axis", "scale", "zero_point"}.
  Status ReadQuant(const json::Ref& q, StorageDesc* sd) const {
    QuantDesc& qd = sd->quant;
    GS_RETURN_IF_ERROR(q.ExpectObject());
    qd.present = true;
    json::Ref r;
    bool found;
    GS_RETURN_IF_ERROR(q.OptionalMember("axis", &r, &found));
    qd.axis = -1;
    if (found && !r->is_null()) {
      int64_t a;
      GS_RETURN_IF_ERROR(r.GetInt(&a));
      if (a < 0 || a >= static_cast<int64_t>(sd->shape.size())) {
        return r.Error("axis " + std::to_string(a) + " out of range for shape " +
                       ShapeStr(sd->shape) + " (null: one scale for the whole tensor)");
      }
      qd.axis = static_cast<int>(a);
    }
    const int64_t channels = qd.axis < 0 ? 1 : sd->shape[qd.axis];
    auto count_error = [&](const json::Ref& at, int64_t n) {
      return at.Error(std::to_string(n) + " values, expected " +
                      (qd.axis < 0
                           ? std::string("1 (axis null: one scale for the tensor)")
                           : std::to_string(channels) + " (shape[" + std::to_string(qd.axis) +
                                 "] of " + ShapeStr(sd->shape) + ")"));
    };
    GS_RETURN_IF_ERROR(q.Member("scale", &r));
    if (r->is_object()) {  // 1.6: float32 values in the PARAMS section
      int64_t n;
      const uint8_t* p;
      GS_RETURN_IF_ERROR(ReadParamsRef(r, 4, &n, &p));
      if (n != channels) return count_error(r, n);
      qd.scale.resize(static_cast<size_t>(channels));
      for (size_t i = 0; i < qd.scale.size(); ++i) {
        qd.scale[i] = LoadF32(p + 4 * i);
        if (!ScaleOk(qd.scale[i])) {
          return FormatError(r.path() + "[" + std::to_string(i) + "]: " + BadScale(qd.scale[i]));
        }
      }
    } else {
      if (!r->is_array()) {
        return r.Error(std::string("expected array of numbers or (1.6) a params reference, "
                                   "found ") +
                       r->TypeName());
      }
      if (static_cast<int64_t>(r->size()) != channels) {
        return count_error(r, static_cast<int64_t>(r->size()));
      }
      qd.scale.resize(static_cast<size_t>(channels));
      for (size_t i = 0; i < qd.scale.size(); ++i) {
        GS_RETURN_IF_ERROR(ReadScale(r.Item(i), &qd.scale[i]));
      }
    }
    qd.zero_point.assign(qd.scale.size(), 0);
    GS_RETURN_IF_ERROR(q.OptionalMember("zero_point", &r, &found));
    if (found && r->is_object()) {  // 1.6: int32 values in the PARAMS section
      int64_t n;
      const uint8_t* p;
      GS_RETURN_IF_ERROR(ReadParamsRef(r, 4, &n, &p));
      if (n != channels) return count_error(r, n);
      for (size_t i = 0; i < qd.zero_point.size(); ++i) {
        const int32_t z = LoadI32(p + 4 * i);
        auto at = [&] { return r.path() + "[" + std::to_string(i) + "]"; };
        if (sd->dtype == StorageDType::kI32 && z != 0) {
          return FormatError(at() + ": must be 0 for i32 storage, got " + std::to_string(z));
        }
        if (z < -128 || z > 127) {
          return FormatError(at() + ": zero point " + std::to_string(z) +
                             " out of the i8 range [-128, 127]");
        }
        qd.zero_point[i] = z;
      }
    } else if (found && !r->is_null()) {
      std::vector<int64_t> zps;
      GS_RETURN_IF_ERROR(r.GetIntArray(&zps, std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::max(),
                                       static_cast<long>(channels)));
      for (size_t i = 0; i < zps.size(); ++i) {
        if (sd->dtype == StorageDType::kI32 && zps[i] != 0) {
          return r.Item(i).Error("must be 0 for i32 storage, got " + std::to_string(zps[i]));
        }
        if (zps[i] < -128 || zps[i] > 127) {
          return r.Item(i).Error("zero point " + std::to_string(zps[i]) +
                                 " out of the i8 range [-128, 127]");
        }
        qd.zero_point[i] = static_cast<int32_t>(zps[i]);
      }
    }
    return Status::Ok();
  }

  // ---- gears (FORMAT.md "Gears", "Compute tokens") --------------------------

  Status ReadGears() {
    json::Ref gears;
    GS_RETURN_IF_ERROR(Top("gears", &gears));
    size_t n;
    if (gears->is_array() && gears->size() == 0) {
      return gears.Error("the file carries no gear; at least one is required");
    }
    GS_RETURN_IF_ERROR(gears.ExpectArray(&n, 1));
    const size_t nt = m_->tensors.size();
    std::vector<int> const_tensors;
    for (size_t t = 0; t < nt; ++t) {
      if (m_->tensors[t].is_const) const_tensors.push_back(static_cast<int>(t));
    }
    CollectConstUses();
    symmetric_checked_.assign(m_->storage.size(), 0);
    m_->gears.resize(n);
    std::unordered_map<std::string, size_t> names;
    for (size_t k = 0; k < n; ++k) {
      const json::Ref g = gears.Item(k);
      GearDesc& gd = m_->gears[k];
      GS_RETURN_IF_ERROR(g.ExpectObject());
      json::Ref r;
      GS_RETURN_IF_ERROR(g.Member("name", &r));
      GS_RETURN_IF_ERROR(r.GetString(&gd.name));
      if (gd.name.empty()) return r.Error("gear names must be non-empty");
      auto ins = names.emplace(gd.name, k);
      if (!ins.second) {
        return r.Error("duplicate gear name, also used by gears[" +
                       std::to_string(ins.first->second) + "]");
      }
      const std::string label = g.path() + " (" + Printable(gd.name) + ")";
      GS_RETURN_IF_ERROR(g.Member("compute", &r));
      GS_RETURN_IF_ERROR(r.GetString(&gd.compute));
      if (gd.compute == "f32") {
        gd.arith = Compute::kF32;
      } else if (gd.compute == "f16") {
        gd.arith = Compute::kF16;
      } else if (gd.compute == "q8") {
        gd.arith = Compute::kQ8;
      } else if (gd.compute == "q4") {
        gd.arith = Compute::kQ4;
      } else if (gd.compute == "q8+f32") {  // 1.5: with float islands
        gd.arith = Compute::kQ8;
      } else if (gd.compute == "q4+f32") {
        gd.arith = Compute::kQ4;
      } else {
        return r.Error("unknown compute token \"" + gd.compute.substr(0, 40) +
                       "\" (known: f32, f16, q8, q4, q8+f32, q4+f32)");
      }
      bool has_sparse = false;
      GS_RETURN_IF_ERROR(g.OptionalMember("sparse", &r, &has_sparse));
      if (has_sparse) GS_RETURN_IF_ERROR(r.GetBool(&gd.sparse));
      GS_RETURN_IF_ERROR(ReadFloatNodes(g, &gd));
      json::Ref constants;
      GS_RETURN_IF_ERROR(g.Member("constants", &constants));
      size_t nc;
      GS_RETURN_IF_ERROR(constants.ExpectArray(&nc));
      gd.constant_storage.assign(nt, -1);
      for (size_t j = 0; j < nc; ++j) {
        const json::Ref pr = constants.Item(j);
        std::vector<int64_t> pair;
        GS_RETURN_IF_ERROR(pr.GetIntArray(&pair, std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max(), 2));
        const int64_t t = pair[0], s = pair[1];
        if (t < 0 || t >= static_cast<int64_t>(nt)) {
          return pr.Error("tensor index " + std::to_string(t) + " out of range [0, " +
                          std::to_string(nt) + ")");
        }
        if (s < 0 || s >= static_cast<int64_t>(m_->storage.size())) {
          return pr.Error("storage index " + std::to_string(s) + " out of range [0, " +
                          std::to_string(m_->storage.size()) + ")");
        }
        const TensorDesc& td = m_->tensors[t];
        const StorageDesc& sd = m_->storage[s];
        if (!td.is_const) {
          return pr.Error(TensorLabel(static_cast<int>(t)) + " is not a constant");
        }
        if (gd.constant_storage[t] >= 0) {
          return pr.Error(TensorLabel(static_cast<int>(t)) + " is listed twice");
        }
        if (sd.shape != td.shape) {
          return pr.Error("storage[" + std::to_string(s) + "] shape " + ShapeStr(sd.shape) +
                          " differs from " + TensorLabel(static_cast<int>(t)) + " shape " +
                          ShapeStr(td.shape));
        }
        GS_RETURN_IF_ERROR(CheckConstant(pr, gd, static_cast<int>(t), static_cast<int>(s)));
        GS_RETURN_IF_ERROR(CheckTwoFourUse(gd, static_cast<int>(t), static_cast<int>(s)));
        gd.constant_storage[t] = static_cast<int>(s);
      }
      for (int t : const_tensors) {
        if (gd.constant_storage[t] < 0) {
          return constants.Error("no storage for constant " + TensorLabel(t) +
                                 "; every constant tensor needs exactly one pair");
        }
      }
      GS_RETURN_IF_ERROR(ReadActivations(g, label, &gd));
    }
    return Status::Ok();
  }

  // 1.5: a "q8+f32"/"q4+f32" gear's float islands, `float_nodes`: node
  // indices, strictly increasing, at least one. Any other gear must not carry
  // the key: a reader that ignored it would run the islands in int8.
  Status ReadFloatNodes(const json::Ref& g, GearDesc* gd) const {
    json::Ref r;
    bool found = false;
    GS_RETURN_IF_ERROR(g.OptionalMember("float_nodes", &r, &found));
    const bool islands = gd->compute == "q8+f32" || gd->compute == "q4+f32";
    if (!islands) {
      if (found) {
        return r.Error("only q8+f32 and q4+f32 gears have float nodes; compute \"" + gd->compute +
                       "\" must leave \"float_nodes\" absent");
      }
      return Status::Ok();
    }
    if (!found) {
      return g.Error("compute \"" + gd->compute +
                     "\" needs \"float_nodes\": the indices of the nodes computed in float");
    }
    const int64_t nn = static_cast<int64_t>(m_->nodes.size());
    std::vector<int64_t> idx;
    GS_RETURN_IF_ERROR(r.GetIntArray(&idx, 0, nn - 1));
    if (idx.empty()) {
      return r.Error("lists no node; a gear without float nodes computes \"q8\" or \"q4\"");
    }
    gd->float_nodes.assign(static_cast<size_t>(nn), 0);
    for (size_t i = 0; i < idx.size(); ++i) {
      if (i > 0 && idx[i] <= idx[i - 1]) {
        return r.Error("node indices must be strictly increasing, found " +
                       std::to_string(idx[i - 1]) + " then " + std::to_string(idx[i]));
      }
      gd->float_nodes[static_cast<size_t>(idx[i])] = 1;
    }
    // A float graph output with an integer interface is quantized with its
    // activation parameters (FORMAT.md); nothing else to check here.
    return Status::Ok();
  }

  static bool IsFloatNode(const GearDesc& gd, int node) {
    return !gd.float_nodes.empty() && gd.float_nodes[static_cast<size_t>(node)] != 0;
  }

  // Where each constant tensor is read: (node, input position) pairs.
  void CollectConstUses() {
    const_uses_.assign(m_->tensors.size(), {});
    for (size_t k = 0; k < m_->nodes.size(); ++k) {
      const NodeDesc& nd = m_->nodes[k];
      for (size_t j = 0; j < nd.inputs.size(); ++j) {
        const int t = nd.inputs[j];
        if (t >= 0 && m_->tensors[t].is_const) {
          const_uses_[t].emplace_back(static_cast<int>(k), static_cast<int>(j));
        }
      }
    }
  }

  // Ops whose input 1 is int8 per-channel weights and input 2 an int32 bias
  // in integer gears.
  static bool HasWeights(OpType op) {
    return op == OpType::kConv2D || op == OpType::kDepthwiseConv2D ||
           op == OpType::kFullyConnected || op == OpType::kTransposeConv;
  }

  // The storage a gear gives constant `t` must be one its compute token takes
  // (FORMAT.md "Compute tokens"), for every use of the tensor.
  Status CheckConstant(const json::Ref& pr, const GearDesc& gd, int t, int s) {
    const StorageDesc& sd = m_->storage[s];
    const std::string have = "storage[" + std::to_string(s) + "] is " + DTypeName(sd.dtype) +
                             " " + EncodingName(sd.encoding);
    auto fail = [&](const std::string& want) {
      return pr.Error(TensorLabel(t) + ": compute \"" + gd.compute + "\" takes " + want + "; " +
                      have);
    };
    switch (gd.arith) {
      case Compute::kF32:
        if (sd.dtype != StorageDType::kF32) return fail("f32 storage (dense, q8r4 or q8r8)");
        return Status::Ok();
      case Compute::kF16:
        if (sd.dtype != StorageDType::kF16 && sd.dtype != StorageDType::kF32) {
          return fail("f16 or f32 storage");
        }
        return Status::Ok();
      case Compute::kQ8:
      case Compute::kQ4:
        break;
    }
    // 1.5: a constant a float node reads is float (f32 dense, q8r4 or q8r8, f16
    // dense), and no integer node reads it.
    int float_use = -1, int_use = -1;
    for (const auto& use : const_uses_[t]) {
      (IsFloatNode(gd, use.first) ? float_use : int_use) = use.first;
    }
    if (float_use >= 0) {
      const std::string node =
          "nodes[" + std::to_string(float_use) + "] (" + Printable(m_->nodes[float_use].name) + ")";
      if (int_use >= 0) {
        return pr.Error(TensorLabel(t) + " is read by float node " + node +
                        " and by integer node nodes[" + std::to_string(int_use) + "] (" +
                        Printable(m_->nodes[int_use].name) +
                        "); a constant belongs to one side of a float island");
      }
      if (sd.dtype != StorageDType::kF32 && sd.dtype != StorageDType::kF16) {
        return fail("f32 (dense, q8r4 or q8r8) or f16 storage for float node " + node);
      }
      return Status::Ok();
    }
    for (const auto& use : const_uses_[t]) {
      const NodeDesc& nd = m_->nodes[use.first];
      const std::string role = std::string(" as ") +
                               (use.second == 1 && HasWeights(nd.op)   ? "weights"
                                : use.second == 2 && HasWeights(nd.op) ? "bias"
                                                                       : "an operand") +
                               " of nodes[" + std::to_string(use.first) + "] (" +
                               Printable(nd.name) + ")";
      if (HasWeights(nd.op) && use.second == 1) {
        const int axis = nd.op == OpType::kDepthwiseConv2D ? 3 : 0;
        // q4 gears may keep a layer at int8 (dense or sparse): the converter's
        // per-layer fallback.
        const bool q4m = sd.encoding == Encoding::kQ4M && gd.arith == Compute::kQ4;
        const bool i8 = sd.encoding == Encoding::kDense || IsSparseEncoding(sd.encoding);
        const std::string want =
            std::string("i8 ") +
            (gd.arith == Compute::kQ8 ? "dense, bitmap, csr or 2:4"
                                      : "q4m, dense, bitmap, csr or 2:4") +
            " storage with symmetric per-channel quant on axis " + std::to_string(axis) + role;
        if (sd.dtype != StorageDType::kI8 || !(q4m || i8)) return fail(want);
        if (sd.quant.axis != axis) {
          return fail(want + " (its quant.axis is " +
                      (sd.quant.axis < 0 ? std::string("null") : std::to_string(sd.quant.axis)) +
                      ")");
        }
        for (int32_t zp : sd.quant.zero_point) {
          if (zp != 0) return fail(want + " (its zero point " + std::to_string(zp) + " is not 0)");
        }
        GS_RETURN_IF_ERROR(CheckSymmetricValues(q4m ? sd.base : s));
      } else if (HasWeights(nd.op) && use.second == 2) {
        const std::string want = "i32 dense storage with per-channel quant on axis 0" + role;
        if (sd.dtype != StorageDType::kI32 || sd.encoding != Encoding::kDense ||
            sd.quant.axis != 0) {
          return fail(want);
        }
      } else {
        const std::string want = "i8 dense storage with per-tensor quant (axis null)" + role;
        if (sd.dtype != StorageDType::kI8 || sd.encoding != Encoding::kDense ||
            sd.quant.axis != -1) {
          return fail(want);
        }
      }
    }
    return Status::Ok();
  }

  // FORMAT.md: 2:4 only for CONV_2D and FULLY_CONNECTED weights. A tensor a
  // gear reads from a 2:4 entry (directly, or through a q8r4/q4m entry over
  // one) must be used, and only as input 1 of such nodes.
  Status CheckTwoFourUse(const GearDesc& gd, int t, int s) const {
    const StorageDesc& sd = m_->storage[s];
    for (int e : {s, sd.base}) {
      if (e < 0 || m_->storage[e].encoding != Encoding::kTwoFour) continue;
      std::string what = const_uses_[t].empty() ? "used by no node" : "";
      for (const auto& use : const_uses_[t]) {
        const NodeDesc& nd = m_->nodes[use.first];
        if ((nd.op == OpType::kConv2D || nd.op == OpType::kFullyConnected) && use.second == 1) {
          continue;
        }
        what = "input " + std::to_string(use.second) + " of " + OpName(nd.op) + " node '" +
               Printable(nd.name) + "'";
        break;
      }
      if (!what.empty()) {
        return FormatError("storage[" + std::to_string(e) +
                           "].encoding: 2:4 applies only to CONV_2D and FULLY_CONNECTED weights; "
                           "gear '" + Printable(gd.name) + "' reads it for " + TensorLabel(t) +
                           ", which is " + what);
      }
    }
    return Status::Ok();
  }

  // Symmetric int8 weights never hold -128 (kernels may rely on |q| <= 127).
  Status CheckSymmetricValues(int s) {
    if (symmetric_checked_[s]) return Status::Ok();
    const StorageDesc& sd = m_->storage[s];
    // Sparse entries: only the stored values (after the bitmap / indices).
    const uint64_t first = IsSparseEncoding(sd.encoding) ? SparseValuesOffset(sd) : 0;
    const auto* q = reinterpret_cast<const int8_t*>(sd.data);
    for (uint64_t i = first; i < sd.length; ++i) {
      if (q[i] == -128) {
        return FormatError("storage[" + std::to_string(s) + "]: value -128 at " +
                           (first ? "stored value " : "element ") + std::to_string(i - first) +
                           "; weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED are "
                           "symmetric, in [-127, 127]");
      }
    }
    symmetric_checked_[s] = 1;
    return Status::Ok();
  }

  // A gear's "activations": required, complete and consistent for q8/q4.
  Status ReadActivations(const json::Ref& g, const std::string& label, GearDesc* gd) const {
    json::Ref acts;
    bool found;
    GS_RETURN_IF_ERROR(g.OptionalMember("activations", &acts, &found));
    const bool integer = gd->arith == Compute::kQ8 || gd->arith == Compute::kQ4;
    if (!integer) {
      if (found && !acts->is_null() && !(acts->is_array() && acts->size() == 0)) {
        return acts.Error("only q8 and q4 gears carry activation parameters; compute \"" +
                          gd->compute + "\" must leave it absent");
      }
      return Status::Ok();
    }
    if (!found || acts->is_null()) {
      return FormatError(label + ": compute \"" + gd->compute +
                         "\" needs \"activations\": int8 (scale, zero point) of every "
                         "non-constant tensor");
    }
    const size_t nt = m_->tensors.size();
    gd->activations.assign(nt, ActQuant());
    std::vector<char> seen(nt, 0);
    // One [tensor, scale, zero point] entry, JSON or binary: same rules.
    // `at` names the entry; called only to build a message.
    auto take = [&](int64_t t, const auto& at) -> Status {
      if (t < 0 || t >= static_cast<int64_t>(nt)) {
        return FormatError(at() + ": tensor index " + std::to_string(t) + " out of range [0, " +
                           std::to_string(static_cast<int64_t>(nt) - 1) + "]");
      }
      if (m_->tensors[t].is_const) {
        return FormatError(at() + ": " + TensorLabel(static_cast<int>(t)) +
                           " is a constant; its parameters are its storage's quant");
      }
      if (seen[t]) {
        return FormatError(at() + ": " + TensorLabel(static_cast<int>(t)) + " is listed twice");
      }
      seen[t] = 1;
      return Status::Ok();
    };
    if (acts->is_object()) {  // 1.6: 12-byte records in the PARAMS section
      int64_t n;
      const uint8_t* p;
      GS_RETURN_IF_ERROR(ReadParamsRef(acts, 12, &n, &p));
      for (int64_t i = 0; i < n; ++i, p += 12) {
        auto at = [&] { return acts.path() + "[" + std::to_string(i) + "]"; };
        const int64_t t = LoadI32(p);
        GS_RETURN_IF_ERROR(take(t, at));
        ActQuant& aq = gd->activations[t];
        aq.scale = LoadF32(p + 4);
        if (!ScaleOk(aq.scale)) return FormatError(at() + ".scale: " + BadScale(aq.scale));
        const int32_t z = LoadI32(p + 8);
        if (z < -128 || z > 127) {
          return FormatError(at() + ".zero_point: " + std::to_string(z) +
                             " out of the i8 range [-128, 127]");
        }
        aq.zero_point = z;
      }
    } else {
      size_t n;
      if (!acts->is_array()) {
        return acts.Error(
            std::string("expected array of [tensor, scale, zero_point] or (1.6) a params "
                        "reference, found ") +
            acts->TypeName());
      }
      GS_RETURN_IF_ERROR(acts.ExpectArray(&n));
      for (size_t i = 0; i < n; ++i) {
        const json::Ref item = acts.Item(i);
        if (!item->is_array() || item->size() != 3) {
          return item.Error("expected [tensor, scale, zero_point]");
        }
        int64_t t;
        GS_RETURN_IF_ERROR(item.Item(0).GetInt(&t, 0, static_cast<int64_t>(nt) - 1));
        GS_RETURN_IF_ERROR(take(t, [&] { return item.path(); }));
        ActQuant& aq = gd->activations[t];
        GS_RETURN_IF_ERROR(ReadScale(item.Item(1), &aq.scale));
        GS_RETURN_IF_ERROR(item.Item(2).GetInt(&aq.zero_point, -128, 127));
      }
    }
    for (size_t t = 0; t < nt; ++t) {
      if (!m_->tensors[t].is_const && !seen[t]) {
        return FormatError(label + ": " + TensorLabel(static_cast<int>(t)) +
                           " has no activation parameters; a " + gd->compute +
                           " gear lists every non-constant tensor in \"activations\"");
      }
    }
    // Value-moving ops keep (scale, zero point): TFLite's int8 specification.
    for (size_t k = 0; k < m_->nodes.size(); ++k) {
      const NodeDesc& nd = m_->nodes[k];
      if (!MovesValues(nd.op) || IsFloatNode(*gd, static_cast<int>(k))) continue;
      const int out = nd.outputs[0];
      const ActQuant& y = gd->activations[out];
      for (size_t j = 0; j < nd.inputs.size(); ++j) {
        const int t = nd.inputs[j];
        ActQuant x = gd->activations[t];
        if (m_->tensors[t].is_const) {
          const QuantDesc& q = m_->storage[gd->constant_storage[t]].quant;
          x.scale = q.scale[0];
          x.zero_point = q.zero_point[0];
        }
        if (x.scale != y.scale || x.zero_point != y.zero_point) {
          return FormatError(label + ": nodes[" + std::to_string(k) + "] (" +
                             Printable(nd.name) + "): input " + TensorLabel(t) + " has " +
                             ParamStr(x) + ", output " + TensorLabel(out) + " has " +
                             ParamStr(y) + "; " + OpName(nd.op) +
                             " moves values without rescaling, so they must be equal");
        }
      }
    }
    return Status::Ok();
  }

  // Ops whose int8 inputs and output share (scale, zero point) (FORMAT.md
  // "Compute tokens").
  static bool MovesValues(OpType op) {
    switch (op) {
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D:
      case OpType::kReshape:
      case OpType::kPad:
      case OpType::kConcatenation:
      case OpType::kMaximum:
      case OpType::kMinimum:
      case OpType::kResizeBilinear:
      case OpType::kResizeNearestNeighbor:
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
      case OpType::kTranspose:
      case OpType::kSlice:
      case OpType::kGather:
        return true;
      default:
        return false;
    }
  }

  static std::string ParamStr(const ActQuant& a) {
    return "(scale " + Num(a.scale, 9) + ", zero point " + std::to_string(a.zero_point) + ")";
  }

  // A 1.6 params reference {"offset", "count"} (FORMAT.md 2.4): *bytes
  // receives the first of `count` elements of elem_size bytes inside the
  // PARAMS section. Every byte of it is hostile: alignment, count and bounds
  // are checked (without overflow) before a value is read.
  Status ReadParamsRef(const json::Ref& r, uint64_t elem_size, int64_t* count,
                       const uint8_t** bytes) const {
    GS_RETURN_IF_ERROR(r.ExpectObject());
    if (params_ == nullptr) {
      return r.Error(
          "a params reference {\"offset\", \"count\"}, but the file has no PARAMS section "
          "(kind 3, format 1.6); write the values as a JSON array or add the section");
    }
    json::Ref v;
    int64_t off, n;
    GS_RETURN_IF_ERROR(r.Member("offset", &v));
    GS_RETURN_IF_ERROR(v.GetInt(&off, 0));
    if (off % 4 != 0) return v.Error("offset " + std::to_string(off) + " is not a multiple of 4");
    GS_RETURN_IF_ERROR(r.Member("count", &v));
    GS_RETURN_IF_ERROR(v.GetInt(&n, 1));
    const uint64_t size = params_->size;
    if (static_cast<uint64_t>(off) > size ||
        static_cast<uint64_t>(n) > (size - static_cast<uint64_t>(off)) / elem_size) {
      return r.Error(std::to_string(n) + " values of " + std::to_string(elem_size) +
                     " bytes from offset " + std::to_string(off) + " lie outside " +
                     params_->label + " of " + std::to_string(size) + " bytes");
    }
    *count = n;
    *bytes = file_ + params_->offset + off;
    return Status::Ok();
  }

  // A binary scale must be finite and > 0 (a NaN, an infinity, zero and -0
  // fail). The message is built only on failure: a file holds thousands.
  static bool ScaleOk(float f) { return f > 0 && f <= std::numeric_limits<float>::max(); }
  static std::string BadScale(float f) {
    return "scale must be a finite float32 > 0, got " +
           (std::isnan(f) ? std::string("NaN") : Num(f, 9));
  }

  // Scales (quant and activations): finite float32 values > 0, written so
  // that they read back as the same float32.
  static Status ReadScale(const json::Ref& r, float* out) {
    double d;
    GS_RETURN_IF_ERROR(r.GetNumber(&d));
    if (!(d > 0)) return r.Error("must be > 0, got " + Num(d, 9));
    if (!(d <= std::numeric_limits<float>::max())) {
      return r.Error("must be a finite float32, got " + Num(d, 17));
    }
    const float f = static_cast<float>(d);
    if (static_cast<double>(f) != d) {
      return r.Error("must be a float32 value, got " + Num(d, 17) + " (nearest float32: " +
                     Num(f, 9) + ")");
    }
    *out = f;
    return Status::Ok();
  }

  const Header& header_;
  const std::vector<Section>& sections_;
  const uint8_t* file_;
  const Section* params_ = nullptr;  // the PARAMS section (1.6), if any
  ModelDesc* m_;
  const json::Value* root_ = nullptr;
  std::vector<char> is_input_;
  std::vector<int> producer_;
  // Per constant tensor: (node index, input position) of every read.
  std::vector<std::vector<std::pair<int, int>>> const_uses_;
  std::vector<char> symmetric_checked_;  // per storage entry
};

class GearFileImpl : public GearFile {
 public:
  explicit GearFileImpl(std::unique_ptr<FileMap> map) : map_(std::move(map)) {}
  const ModelDesc& model() const override { return model_; }
  uint64_t file_size() const override { return map_->size(); }

  Status Load(const Options& options) {
    const uint8_t* d = map_->data();
    const size_t n = map_->size();
    Header h;
    GS_RETURN_IF_ERROR(ReadHeader(d, n, &h));
    std::vector<Section> sections;
    size_t manifest = 0;
    GS_RETURN_IF_ERROR(ReadSections(d, n, h, options.verify_checksums, &sections, &manifest));
    ManifestReader reader(h, sections, d, &model_);
    GS_RETURN_IF_ERROR(
        reader.Read(d + sections[manifest].offset, sections[manifest].size,
                    sections[manifest].label));
    // Files with alignment < 64 can place payloads at 16- or 32-byte
    // boundaries; kernels may assume 64, so such payloads get an aligned copy.
    for (StorageDesc& sd : model_.storage) {
      if (reinterpret_cast<uintptr_t>(sd.data) % kDataAlignment == 0) continue;
      std::unique_ptr<FileMap> copy;
      GS_RETURN_IF_ERROR(FileMap::CopyOf(sd.data, static_cast<size_t>(sd.length), &copy));
      sd.data = copy->data();
      copies_.push_back(std::move(copy));
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<FileMap> map_;
  std::vector<std::unique_ptr<FileMap>> copies_;
  ModelDesc model_;
};

Status LoadMap(std::unique_ptr<FileMap> map, const GearFile::Options& options,
               std::unique_ptr<GearFile>* out) {
  std::unique_ptr<GearFileImpl> file(new (std::nothrow) GearFileImpl(std::move(map)));
  if (!file) return Status(StatusCode::kInternal, "out of memory");
  GS_RETURN_IF_ERROR(file->Load(options));
  *out = std::move(file);
  return Status::Ok();
}

}  // namespace

Status GearFile::Open(const std::string& path, const Options& options,
                      std::unique_ptr<GearFile>* out) {
  if (out == nullptr) return InvalidArgument("GearFile::Open: out is null");
  std::unique_ptr<FileMap> map;
  GS_RETURN_IF_ERROR(FileMap::Open(path, options.use_mmap, &map));
  return LoadMap(std::move(map), options, out);
}

Status GearFile::FromBuffer(const uint8_t* data, size_t size, const Options& options,
                            std::unique_ptr<GearFile>* out) {
  if (out == nullptr) return InvalidArgument("GearFile::FromBuffer: out is null");
  if (data == nullptr && size != 0) {
    return InvalidArgument("GearFile::FromBuffer: data is null");
  }
  std::unique_ptr<FileMap> map;
  GS_RETURN_IF_ERROR(FileMap::CopyOf(data, size, &map));
  return LoadMap(std::move(map), options, out);
}

}  // namespace gearshift
