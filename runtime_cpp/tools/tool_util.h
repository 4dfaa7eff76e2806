// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Helpers shared by gearshift-run and gearshift-bench (header-only: every
// tools/*.cc is its own executable): strict integer parsing of flags, the
// error/usage exit convention (0 ok, 1 error with one "error: " line on
// stderr, 2 usage error) and status formatting.
#ifndef GEARSHIFT_TOOLS_TOOL_UTIL_H_
#define GEARSHIFT_TOOLS_TOOL_UTIL_H_

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gearshift/gearshift.h"

namespace gearshift {
namespace tools {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

inline int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kExitError;
}

inline int UsageError(const char* usage, const std::string& message) {
  std::fprintf(stderr, "error: %s\n%s", message.c_str(), usage);
  return kExitUsage;
}

inline const char* CodeName(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kFormatError: return "format error";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kInternal: return "internal error";
  }
  return "error";
}

inline int FailStatus(const Status& s) {
  return Fail(std::string(CodeName(s.code())) + ": " + s.message());
}

// Parses a decimal integer in [lo, hi]; false on anything else.
inline bool ParseInt(const std::string& text, long lo, long hi, long* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

inline std::string ShapeText(const Shape& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

inline void PrintRuntimeInfo(FILE* out) {
  const RuntimeInfo info = GetRuntimeInfo();
  std::string compiled, detected;
  for (const std::string& s : info.isa_compiled) compiled += (compiled.empty() ? "" : " ") + s;
  for (const std::string& s : info.isa_detected) detected += (detected.empty() ? "" : " ") + s;
  std::fprintf(out, "gearshift %s\nformat: %d.%d\nisa compiled: %s\nisa detected: %s\n",
               info.version.c_str(), info.format_major, info.format_minor, compiled.c_str(),
               detected.empty() ? "(none)" : detected.c_str());
}

}  // namespace tools
}  // namespace gearshift

#endif  // GEARSHIFT_TOOLS_TOOL_UTIL_H_
