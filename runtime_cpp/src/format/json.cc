// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Strict recursive-descent JSON parser (see json.h). Recursion depth equals
// the container nesting depth, which is capped at kMaxDepth before each
// descent, so hostile input cannot exhaust the stack. Numbers are converted
// with std::from_chars, which ignores the process locale (strtod would read
// "1,5" under a German locale).
#include "format/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <locale>
#include <sstream>
#include <string_view>

namespace gearshift {
namespace json {

class Parser {
 public:
  Parser(const char* data, size_t size)
      : p_(reinterpret_cast<const uint8_t*>(data)), n_(size) {}

  Status ParseDocument(Value* out) {
    if (n_ > kMaxInputBytes) {
      return Error(0, "input is " + std::to_string(n_) + " bytes, more than the limit of " +
                          std::to_string(kMaxInputBytes));
    }
    SkipSpace();
    GS_RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (pos_ != n_) return Error(pos_, "unexpected " + Describe(pos_) + " after the JSON value");
    return Status::Ok();
  }

 private:
  Status Error(size_t at, const std::string& msg) const {
    return FormatError("JSON error at byte " + std::to_string(at) + ": " + msg);
  }
  std::string Describe(size_t at) const {
    if (at >= n_) return "end of input";
    const uint8_t c = p_[at];
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    static const char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
  }
  void SkipSpace() {
    while (pos_ < n_ && (p_[pos_] == ' ' || p_[pos_] == '\t' || p_[pos_] == '\n' ||
                         p_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(const char* word) {
    const size_t len = std::strlen(word);
    if (n_ - pos_ < len || std::memcmp(p_ + pos_, word, len) != 0) return false;
    pos_ += len;
    return true;
  }

  Status ParseValue(Value* v, int depth) {
    if (pos_ >= n_) return Error(pos_, "expected a value, found end of input");
    if (++values_ > kMaxValues) {
      return Error(pos_, "more than " + std::to_string(kMaxValues) + " values");
    }
    const uint8_t c = p_[pos_];
    switch (c) {
      case '{':
      case '[':
        if (depth >= kMaxDepth) {
          return Error(pos_, "nesting deeper than " + std::to_string(kMaxDepth));
        }
        return c == '{' ? ParseObject(v, depth + 1) : ParseArray(v, depth + 1);
      case '"':
        v->type_ = Type::kString;
        return ParseString(&v->str_);
      case 't':
      case 'f':
      case 'n': {
        const size_t start = pos_;
        if (Literal("true")) {
          v->type_ = Type::kBool;
          v->bool_ = true;
        } else if (Literal("false")) {
          v->type_ = Type::kBool;
          v->bool_ = false;
        } else if (Literal("null")) {
          v->type_ = Type::kNull;
        } else {
          return Error(start, "invalid literal");
        }
        return Status::Ok();
      }
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(v);
        return Error(pos_, "expected a value, found " + Describe(pos_));
    }
  }

  Status ParseArray(Value* v, int depth) {
    v->type_ = Type::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < n_ && p_[pos_] == ']') {
      ++pos_;
      return Status::Ok();
    }
    for (;;) {
      v->items_.emplace_back();
      GS_RETURN_IF_ERROR(ParseValue(&v->items_.back(), depth));
      SkipSpace();
      if (pos_ < n_ && p_[pos_] == ',') {
        ++pos_;
        SkipSpace();
        continue;
      }
      if (pos_ < n_ && p_[pos_] == ']') {
        ++pos_;
        return Status::Ok();
      }
      return Error(pos_, "expected ',' or ']' in array, found " + Describe(pos_));
    }
  }

  Status ParseObject(Value* v, int depth) {
    v->type_ = Type::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (pos_ < n_ && p_[pos_] == '}') {
      ++pos_;
      return Status::Ok();
    }
    for (;;) {
      if (pos_ >= n_ || p_[pos_] != '"') {
        return Error(pos_, "expected a string key in object, found " + Describe(pos_));
      }
      const size_t key_pos = pos_;
      std::string key;
      GS_RETURN_IF_ERROR(ParseString(&key));
      if (v->keys_.size() < kLinearDupCheck && v->Find(key) != nullptr) {
        return Error(key_pos, "duplicate object key \"" + Printable(key) + "\"");
      }
      v->keys_.push_back(std::move(key));
      SkipSpace();
      if (pos_ >= n_ || p_[pos_] != ':') {
        return Error(pos_, "expected ':' after object key, found " + Describe(pos_));
      }
      ++pos_;
      SkipSpace();
      v->items_.emplace_back();
      GS_RETURN_IF_ERROR(ParseValue(&v->items_.back(), depth));
      SkipSpace();
      if (pos_ < n_ && p_[pos_] == ',') {
        ++pos_;
        SkipSpace();
        continue;
      }
      if (pos_ < n_ && p_[pos_] == '}') {
        ++pos_;
        break;
      }
      return Error(pos_, "expected ',' or '}' in object, found " + Describe(pos_));
    }
    // Large objects: one sort instead of a quadratic scan.
    if (v->keys_.size() >= kLinearDupCheck) {
      std::vector<std::string_view> sorted(v->keys_.begin(), v->keys_.end());
      std::sort(sorted.begin(), sorted.end());
      auto dup = std::adjacent_find(sorted.begin(), sorted.end());
      if (dup != sorted.end()) {
        return Error(pos_ - 1, "duplicate object key \"" + Printable(std::string(*dup)) +
                                   "\" in the object ending here");
      }
    }
    return Status::Ok();
  }

  static std::string Printable(const std::string& s) {
    std::string out;
    for (char ch : s.substr(0, 60)) {
      const auto u = static_cast<unsigned char>(ch);
      out += (u >= 0x20 && u < 0x7F && ch != '"' && ch != '\\') ? ch : '?';
    }
    return out;
  }

  Status ParseHex4(size_t at, uint32_t* out) const {
    if (n_ - at < 4) return Error(at, "truncated \\u escape");
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      const uint8_t c = p_[at + i];
      uint32_t d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return Error(at + i, "invalid hex digit in \\u escape");
      }
      v = v * 16 + d;
    }
    *out = v;
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the well-formed UTF-8 sequence at `at` (RFC 3629: no overlong
  // forms, no surrogates, nothing above U+10FFFF), or 0 if ill-formed.
  size_t Utf8Length(size_t at) const {
    const uint8_t c = p_[at];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (n_ - at < len) return 0;
    if (p_[at + 1] < lo || p_[at + 1] > hi) return 0;
    for (size_t i = 2; i < len; ++i) {
      if (p_[at + i] < 0x80 || p_[at + i] > 0xBF) return 0;
    }
    return len;
  }

  Status ParseString(std::string* out) {
    const size_t start = pos_;
    ++pos_;  // opening quote
    for (;;) {
      if (pos_ >= n_) return Error(start, "unterminated string");
      const uint8_t c = p_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) return Error(pos_, "raw control character in string (must be escaped)");
      if (c == '\\') {
        if (n_ - pos_ < 2) return Error(start, "unterminated string");
        const uint8_t e = p_[pos_ + 1];
        pos_ += 2;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp = 0;
            GS_RETURN_IF_ERROR(ParseHex4(pos_, &cp));
            const size_t esc = pos_ - 2;
            pos_ += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return Error(esc, "unpaired low surrogate in \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (n_ - pos_ < 6 || p_[pos_] != '\\' || p_[pos_ + 1] != 'u') {
                return Error(esc, "high surrogate not followed by a \\u low surrogate");
              }
              uint32_t low = 0;
              GS_RETURN_IF_ERROR(ParseHex4(pos_ + 2, &low));
              if (low < 0xDC00 || low > 0xDFFF) {
                return Error(pos_, "high surrogate not followed by a low surrogate");
              }
              pos_ += 6;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            AppendUtf8(cp, out);
            break;
          }
          default:
            return Error(pos_ - 2, "invalid escape sequence");
        }
        continue;
      }
      const size_t len = Utf8Length(pos_);
      if (len == 0) return Error(pos_, "invalid UTF-8 in string");
      out->append(reinterpret_cast<const char*>(p_ + pos_), len);
      pos_ += len;
    }
  }

  static bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

  // For the well-formed number token [start, pos_) whose integer digits end
  // at int_end: true if its magnitude is below 1 (decimal exponent of its
  // first significant digit < 0), so a failed conversion is an underflow.
  bool IsTiny(size_t start, size_t int_end) const {
    size_t i = start + (p_[start] == '-' ? 1 : 0);
    // Decimal exponent of the first significant digit, before the exponent part.
    int64_t order = static_cast<int64_t>(int_end - i) - 1;
    bool significant = false;
    for (; i < pos_ && p_[i] != 'e' && p_[i] != 'E'; ++i) {
      if (p_[i] == '.') continue;
      if (p_[i] != '0') {
        significant = true;
        break;
      }
      --order;
    }
    if (!significant) return true;  // zero
    while (i < pos_ && p_[i] != 'e' && p_[i] != 'E') ++i;
    int64_t exp = 0;
    bool exp_negative = false;
    if (i < pos_) {
      ++i;
      if (p_[i] == '+' || p_[i] == '-') exp_negative = p_[i++] == '-';
      for (; i < pos_; ++i) exp = std::min<int64_t>(exp * 10 + (p_[i] - '0'), int64_t{1} << 40);
    }
    // |order| is bounded by the 64 MiB input, so this cannot overflow.
    return order + (exp_negative ? -exp : exp) < 0;
  }

  Status ParseNumber(Value* v) {
    const size_t start = pos_;
    bool negative = false;
    if (p_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= n_ || !IsDigit(p_[pos_])) return Error(start, "invalid number");
    const size_t int_start = pos_;
    if (p_[pos_] == '0') {
      ++pos_;
      if (pos_ < n_ && IsDigit(p_[pos_])) return Error(start, "number with a leading zero");
    } else {
      while (pos_ < n_ && IsDigit(p_[pos_])) ++pos_;
    }
    const size_t int_end = pos_;
    bool integral = true;
    if (pos_ < n_ && p_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= n_ || !IsDigit(p_[pos_])) return Error(start, "invalid number: digit expected after '.'");
      while (pos_ < n_ && IsDigit(p_[pos_])) ++pos_;
    }
    if (pos_ < n_ && (p_[pos_] == 'e' || p_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < n_ && (p_[pos_] == '+' || p_[pos_] == '-')) ++pos_;
      if (pos_ >= n_ || !IsDigit(p_[pos_])) return Error(start, "invalid number: digit expected in exponent");
      while (pos_ < n_ && IsDigit(p_[pos_])) ++pos_;
    }
    v->type_ = Type::kNumber;
    if (integral) {
      // Accumulate as a negative number so INT64_MIN fits.
      int64_t acc = 0;
      bool fits = true;
      for (size_t i = int_start; i < int_end; ++i) {
        const int d = p_[i] - '0';
        if (acc < (INT64_MIN + d) / 10) {
          fits = false;
          break;
        }
        acc = acc * 10 - d;
      }
      if (fits && !negative && acc == INT64_MIN) fits = false;
      if (fits) {
        v->is_int_ = true;
        v->int_ = negative ? acc : -acc;
        v->num_ = static_cast<double>(v->int_);
        return Status::Ok();
      }
    }
    const char* first = reinterpret_cast<const char*>(p_ + start);
    const char* last = reinterpret_cast<const char*>(p_ + pos_);
    double d = 0;
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    const std::from_chars_result r = std::from_chars(first, last, d);
    const bool converted = r.ec == std::errc() && r.ptr == last;
#else
    std::istringstream in(std::string(first, last));
    in.imbue(std::locale::classic());
    in >> d;
    const bool converted = !in.fail();
#endif
    if (!converted) {
      // A finite number too small for a double (1e-400) rounds to zero, as in
      // every other JSON reader; only overflow is refused.
      if (!IsTiny(start, int_end)) return Error(start, "number out of the range of a double");
      d = negative ? -0.0 : 0.0;
    }
    if (!std::isfinite(d)) return Error(start, "number out of the range of a double");
    v->num_ = d;
    return Status::Ok();
  }

  // Below this many keys, duplicates are found by a scan as keys arrive.
  static constexpr size_t kLinearDupCheck = 16;

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  size_t values_ = 0;  // values started so far, checked against kMaxValues
};

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &items_[i];
  }
  return nullptr;
}

const char* Value::TypeName() const {
  switch (type_) {
    case Type::kNull: return "null";
    case Type::kBool: return "boolean";
    case Type::kNumber: return is_int_ ? "integer" : "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "?";
}

Status Parse(const char* data, size_t size, Value* out) {
  *out = Value();
  Parser parser(data, size);
  return parser.ParseDocument(out);
}

// ---- Ref ------------------------------------------------------------------

Status Ref::Error(const std::string& message) const {
  return FormatError(path_ + ": " + message);
}

Status Ref::ExpectObject() const {
  if (!value_->is_object()) {
    return Error(std::string("expected object, found ") + value_->TypeName());
  }
  return Status::Ok();
}

Status Ref::ExpectArray(size_t* size, size_t min_size, size_t max_size) const {
  if (!value_->is_array()) {
    return Error(std::string("expected array, found ") + value_->TypeName());
  }
  const size_t n = value_->size();
  if (n < min_size || n > max_size) {
    std::string range = max_size == SIZE_MAX
                            ? "at least " + std::to_string(min_size)
                            : std::to_string(min_size) + ".." + std::to_string(max_size);
    return Error("expected " + range + " elements, found " + std::to_string(n));
  }
  if (size) *size = n;
  return Status::Ok();
}

Status Ref::Member(std::string_view key, Ref* out) const {
  bool found = false;
  GS_RETURN_IF_ERROR(OptionalMember(key, out, &found));
  if (!found) return Error("missing required key \"" + std::string(key) + "\"");
  return Status::Ok();
}

Status Ref::OptionalMember(std::string_view key, Ref* out, bool* found) const {
  GS_RETURN_IF_ERROR(ExpectObject());
  const Value* v = value_->Find(key);
  *found = v != nullptr;
  if (v) *out = Ref(v, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
  return Status::Ok();
}

Ref Ref::Item(size_t i) const {
  return Ref(&value_->items()[i], path_ + "[" + std::to_string(i) + "]");
}

Status Ref::GetString(std::string* out) const {
  if (!value_->is_string()) {
    return Error(std::string("expected string, found ") + value_->TypeName());
  }
  *out = value_->string_value();
  return Status::Ok();
}

Status Ref::GetBool(bool* out) const {
  if (!value_->is_bool()) {
    return Error(std::string("expected boolean, found ") + value_->TypeName());
  }
  *out = value_->bool_value();
  return Status::Ok();
}

Status Ref::GetNumber(double* out) const {
  if (!value_->is_number()) {
    return Error(std::string("expected number, found ") + value_->TypeName());
  }
  *out = value_->number_value();
  return Status::Ok();
}

Status Ref::GetInt(int64_t* out, int64_t min, int64_t max) const {
  if (!value_->is_int()) {
    return Error(std::string("expected integer, found ") + value_->TypeName());
  }
  const int64_t v = value_->int_value();
  if (v < min || v > max) {
    return Error("integer " + std::to_string(v) + " out of range [" + std::to_string(min) +
                 ", " + std::to_string(max) + "]");
  }
  *out = v;
  return Status::Ok();
}

Status Ref::GetInt(int* out, int min, int max) const {
  int64_t v;
  GS_RETURN_IF_ERROR(GetInt(&v, min, max));
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status Ref::GetIntArray(std::vector<int64_t>* out, int64_t min, int64_t max, long exact_size,
                        size_t min_size, size_t max_size) const {
  std::string what;
  if (exact_size >= 0) {
    what = "array of " + std::to_string(exact_size) + " integers";
  } else {
    what = "array of integers";
  }
  if (!value_->is_array()) return Error("expected " + what + ", found " + value_->TypeName());
  const size_t n = value_->size();
  if (exact_size >= 0 ? n != static_cast<size_t>(exact_size)
                      : (n < min_size || n > max_size)) {
    return Error("expected " + what +
                 (exact_size >= 0 ? std::string()
                                  : " with " + std::to_string(min_size) + ".." +
                                        std::to_string(max_size) + " elements") +
                 ", found " + std::to_string(n) + " elements");
  }
  out->clear();
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Value& e = value_->items()[i];
    if (!e.is_int()) {
      return Error("expected " + what + ", found " + e.TypeName() + " at index " +
                   std::to_string(i));
    }
    if (e.int_value() < min || e.int_value() > max) {
      return Item(i).Error("integer " + std::to_string(e.int_value()) + " out of range [" +
                           std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    out->push_back(e.int_value());
  }
  return Status::Ok();
}

}  // namespace json
}  // namespace gearshift
