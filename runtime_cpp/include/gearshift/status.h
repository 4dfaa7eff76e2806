// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Status: the runtime's only error channel. The runtime never throws across
// its public API; every fallible call returns a Status whose message says what
// was expected and what was found, so bindings can map it to their own errors.
#ifndef GEARSHIFT_STATUS_H_
#define GEARSHIFT_STATUS_H_

#include <string>
#include <utility>

namespace gearshift {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // caller passed a wrong shape, dtype, gear name, option
  kFormatError,      // the file is corrupt, truncated or not a .gear file
  kNotFound,         // file does not exist
  kIoError,          // cannot open/read/map an existing file
  kUnsupported,      // valid file, but needs something this build lacks (newer major)
  kInternal,         // a bug or out of memory
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status FormatError(std::string m) {
  return Status(StatusCode::kFormatError, std::move(m));
}

}  // namespace gearshift

// Propagates a non-ok Status to the caller.
#define GS_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::gearshift::Status gs_status_ = (expr);  \
    if (!gs_status_.ok()) return gs_status_;  \
  } while (0)

#endif  // GEARSHIFT_STATUS_H_
