// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Small, strict readers for sysfs attribute files, shared by the power and
// thermal sources. Every reader returns an empty optional on any failure (a
// missing file, a directory in place of a file, a permission error, an empty
// file, trailing garbage, a number out of range) instead of guessing, so a
// source can leave that field unset. POSIX calls only: no exceptions, no
// std::filesystem (older armv7 toolchains need an extra library for it).
#ifndef GEARSHIFT_SHIFT_SYSFS_H_
#define GEARSHIFT_SHIFT_SYSFS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gearshift {
namespace sysfs {

// "a" + "/" + "b", without doubling the slash.
std::string Join(const std::string& a, const std::string& b);
// The file's text with surrounding whitespace trimmed (at most 4 KiB read).
std::optional<std::string> ReadText(const std::string& path);
// A whole decimal integer, e.g. "42\n" or "-1500".
std::optional<int64_t> ReadInt(const std::string& path);
// Parses a whole decimal integer (trimmed text).
std::optional<int64_t> ParseInt(const std::string& text);
// Parses a whole finite decimal floating-point number (trimmed text).
std::optional<double> ParseDouble(const std::string& text);
// Names in `dir` (no "." or ".."), sorted; empty when it cannot be listed.
// With a non-empty prefix, only names that start with it.
std::vector<std::string> List(const std::string& dir, const std::string& prefix = "");
bool IsDir(const std::string& path);
bool Exists(const std::string& path);

}  // namespace sysfs
}  // namespace gearshift

#endif  // GEARSHIFT_SHIFT_SYSFS_H_
