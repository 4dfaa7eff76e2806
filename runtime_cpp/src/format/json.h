// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// A small strict JSON (RFC 8259) DOM parser for the .gear manifest, with no
// third-party dependency so the runtime builds on any board. The input is
// hostile: the parser rejects anything outside the RFC (invalid UTF-8, raw
// control characters, lone surrogates, leading zeros, NaN/Infinity, trailing
// commas or bytes), enforces the manifest limits (64 MiB, nesting depth 64,
// at most kMaxValues values, which bounds the DOM's memory to ~100 MiB),
// rejects duplicate object keys (which other parsers resolve differently),
// never throws, and reports errors with their byte offset. Recursion is
// bounded by the depth limit.
//
// Ref wraps a Value with its JSON path ("nodes[3].attrs.stride") so the
// validator's typed getters produce messages such as
//   nodes[3].attrs.stride: expected array of 2 integers, found string
#ifndef GEARSHIFT_FORMAT_JSON_H_
#define GEARSHIFT_FORMAT_JSON_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gearshift/status.h"

namespace gearshift {
namespace json {

constexpr size_t kMaxInputBytes = size_t{64} << 20;
constexpr int kMaxDepth = 64;
// Most JSON values in one document: the top-level value, every array element
// and every object member value, containers included (object keys are not
// counted). Without it a 64 MiB input of "[0,0,..." would become ~32 million
// Values of ~100 bytes each. Real manifests hold a few thousand values.
constexpr size_t kMaxValues = size_t{1} << 20;

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

class Value {
 public:
  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  // True for a number token without fraction or exponent that fits int64.
  bool is_int() const { return type_ == Type::kNumber && is_int_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool bool_value() const { return bool_; }
  int64_t int_value() const { return int_; }   // valid when is_int()
  double number_value() const { return num_; }  // valid when is_number()
  const std::string& string_value() const { return str_; }
  // Array elements, or object member values (parallel to keys()).
  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::string>& keys() const { return keys_; }  // objects only
  size_t size() const { return items_.size(); }

  // Object member by key, or nullptr (also for non-objects).
  const Value* Find(std::string_view key) const;

  // "integer", "number", "string", "array", "object", "boolean", "null".
  const char* TypeName() const;

 private:
  friend class Parser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_int_ = false;
  int64_t int_ = 0;
  double num_ = 0;
  std::string str_;
  std::vector<Value> items_;
  std::vector<std::string> keys_;
};

// Parses exactly one JSON value (surrounded by optional whitespace) from
// [data, data+size). On error returns kFormatError with a message
// "JSON error at byte N: ..." and leaves *out unspecified.
Status Parse(const char* data, size_t size, Value* out);
inline Status Parse(std::string_view text, Value* out) {
  return Parse(text.data(), text.size(), out);
}

// A Value plus its path in the document, for validation messages.
class Ref {
 public:
  Ref() = default;
  Ref(const Value* value, std::string path) : value_(value), path_(std::move(path)) {}

  const Value& value() const { return *value_; }
  const Value* operator->() const { return value_; }
  const std::string& path() const { return path_; }

  // "<path>: <message>" as a kFormatError.
  Status Error(const std::string& message) const;

  // Required member of an object: errors if this is not an object or the key
  // is missing.
  Status Member(std::string_view key, Ref* out) const;
  // Optional member: false (and *out untouched) when absent. Errors only if
  // this is not an object.
  Status OptionalMember(std::string_view key, Ref* out, bool* found) const;
  // Element i of an array (caller checks bounds via ExpectArray).
  Ref Item(size_t i) const;

  Status ExpectObject() const;
  // Array with size in [min_size, max_size]; *size receives the size.
  Status ExpectArray(size_t* size, size_t min_size = 0, size_t max_size = SIZE_MAX) const;

  Status GetString(std::string* out) const;
  Status GetBool(bool* out) const;
  Status GetNumber(double* out) const;
  // Integer token within [min, max].
  Status GetInt(int64_t* out, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  Status GetInt(int* out, int min, int max) const;
  // Array of integers, each within [min, max]. exact_size >= 0 demands that
  // many elements (message "expected array of 2 integers"); otherwise the
  // size must lie in [min_size, max_size].
  Status GetIntArray(std::vector<int64_t>* out, int64_t min, int64_t max,
                     long exact_size = -1, size_t min_size = 0,
                     size_t max_size = SIZE_MAX) const;

 private:
  const Value* value_ = nullptr;
  std::string path_;
};

}  // namespace json
}  // namespace gearshift

#endif  // GEARSHIFT_FORMAT_JSON_H_
