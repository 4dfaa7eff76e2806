// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Minimal .npy reader/writer for the standalone tools (header-only, because
// CMake builds every tools/*.cc as its own executable; not part of the
// runtime library). Reads C-order little-endian float32 and float64 (the
// latter converted to float32) in .npy versions 1.0-3.0; anything else is
// refused with a message saying what was found. Writes version 1.0 float32.
#ifndef GEARSHIFT_TOOLS_NPY_IO_H_
#define GEARSHIFT_TOOLS_NPY_IO_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace gearshift {
namespace npy {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

namespace internal {

inline std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Value text of `'key': value` in the header dict, up to the next top-level
// comma or closing brace (tuples are kept whole).
inline bool DictValue(const std::string& header, const std::string& key, std::string* value) {
  const std::string quoted[2] = {"'" + key + "'", "\"" + key + "\""};
  size_t pos = std::string::npos;
  for (const std::string& q : quoted) {
    pos = header.find(q);
    if (pos != std::string::npos) {
      pos += q.size();
      break;
    }
  }
  if (pos == std::string::npos) return false;
  pos = header.find(':', pos);
  if (pos == std::string::npos) return false;
  ++pos;
  int depth = 0;
  size_t end = pos;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  *value = Trim(header.substr(pos, end - pos));
  return true;
}

}  // namespace internal

// Parses a whole .npy file held in memory.
inline bool Parse(const std::vector<uint8_t>& bytes, Array* out, std::string* error) {
  static const char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    *error = "not a .npy file (bad magic)";
    return false;
  }
  const int major = bytes[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      *error = "truncated .npy header";
      return false;
    }
    header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8) |
                 (static_cast<size_t>(bytes[10]) << 16) | (static_cast<size_t>(bytes[11]) << 24);
    header_start = 12;
  } else {
    *error = "unsupported .npy version " + std::to_string(major);
    return false;
  }
  if (header_start + header_len > bytes.size()) {
    *error = "truncated .npy header";
    return false;
  }
  const std::string header(reinterpret_cast<const char*>(bytes.data()) + header_start,
                           header_len);
  std::string descr, fortran, shape_text;
  if (!internal::DictValue(header, "descr", &descr) ||
      !internal::DictValue(header, "fortran_order", &fortran) ||
      !internal::DictValue(header, "shape", &shape_text)) {
    *error = "malformed .npy header: " + header;
    return false;
  }
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) {
    descr = descr.substr(1, descr.size() - 2);
  }
  size_t elem;
  if (descr == "<f4") {
    elem = 4;
  } else if (descr == "<f8") {
    elem = 8;
  } else {
    *error = "unsupported dtype '" + descr +
             "' (expected little-endian float32 '<f4' or float64 '<f8')";
    return false;
  }
  if (fortran != "False") {
    *error = "Fortran-order arrays are not supported (save with np.ascontiguousarray)";
    return false;
  }
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')') {
    *error = "malformed .npy shape: " + shape_text;
    return false;
  }
  Array a;
  uint64_t count = 1;
  std::string dims = shape_text.substr(1, shape_text.size() - 2);
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    if (comma == std::string::npos) comma = dims.size();
    const std::string d = internal::Trim(dims.substr(pos, comma - pos));
    pos = comma + 1;
    if (d.empty()) continue;
    if (d.size() > 12 || d.find_first_not_of("0123456789") != std::string::npos) {
      *error = "malformed .npy shape: " + shape_text;
      return false;
    }
    const int64_t v = std::stoll(d);
    a.shape.push_back(v);
    count *= static_cast<uint64_t>(v);
    if (count > (uint64_t{1} << 40)) {
      *error = "array too large: " + shape_text;
      return false;
    }
  }
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != count * elem) {
    *error = "data size " + std::to_string(bytes.size() - data_start) + " bytes does not match " +
             "shape " + shape_text + " of " + descr + " (" + std::to_string(count * elem) +
             " bytes)";
    return false;
  }
  a.data.resize(count);
  const uint8_t* p = bytes.data() + data_start;
  for (uint64_t i = 0; i < count; ++i) {
    if (elem == 4) {
      std::memcpy(&a.data[i], p + 4 * i, 4);
    } else {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      a.data[i] = static_cast<float>(v);
    }
  }
  *out = std::move(a);
  return true;
}

inline bool Read(const std::string& path, Array* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open '" + path + "'";
    return false;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!Parse(bytes, out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

// Serializes float32 C-order data as .npy version 1.0.
inline std::vector<uint8_t> Serialize(const std::vector<int64_t>& shape, const float* data) {
  std::string dims;
  uint64_t count = 1;
  for (int64_t d : shape) {
    dims += std::to_string(d) + ",";
    count *= static_cast<uint64_t>(d);
  }
  if (shape.size() > 1) dims.pop_back();  // "(3,)" for rank 1, "(2,3)" otherwise
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad so the data starts at a multiple of 64 bytes; the header ends in '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const uint8_t preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                static_cast<uint8_t>(header.size() & 0xff),
                                static_cast<uint8_t>(header.size() >> 8)};
  std::vector<uint8_t> out(sizeof(preamble) + header.size() + count * 4);
  std::memcpy(out.data(), preamble, sizeof(preamble));
  std::memcpy(out.data() + sizeof(preamble), header.data(), header.size());
  if (count > 0) std::memcpy(out.data() + sizeof(preamble) + header.size(), data, count * 4);
  return out;
}

inline bool Write(const std::string& path, const std::vector<int64_t>& shape, const float* data,
                  std::string* error) {
  const std::vector<uint8_t> bytes = Serialize(shape, data);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) {
    *error = "cannot write '" + path + "'";
    return false;
  }
  return true;
}

}  // namespace npy
}  // namespace gearshift

#endif  // GEARSHIFT_TOOLS_NPY_IO_H_
