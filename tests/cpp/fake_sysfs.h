// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// A fake sysfs tree in a fresh temp folder for the power source tests: write
// attribute files by relative path, make them unreadable, and delete the
// whole tree when the object goes away (RAII). Header-only, POSIX only.
#ifndef GEARSHIFT_TESTS_CPP_FAKE_SYSFS_H_
#define GEARSHIFT_TESTS_CPP_FAKE_SYSFS_H_

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace gearshift {
namespace testing {

class FakeSysfs {
 public:
  FakeSysfs() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/gs_sysfs_XXXXXX";
    if (::mkdtemp(&templ[0]) != nullptr) root_ = templ;
  }
  ~FakeSysfs() {
    if (!root_.empty()) {
      ::nftw(root_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
    }
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const std::string& root() const { return root_; }
  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }

  // Writes `text` plus a newline (as sysfs does) to root/rel, creating folders.
  void Write(const std::string& rel, const std::string& text) const {
    const size_t slash = rel.rfind('/');
    if (slash != std::string::npos) MakeDirs(rel.substr(0, slash));
    std::ofstream f(Path(rel), std::ios::trunc);
    f << text << "\n";
  }
  void MakeDirs(const std::string& rel) const {
    std::string path = root_;
    size_t start = 0;
    while (start < rel.size()) {
      size_t slash = rel.find('/', start);
      if (slash == std::string::npos) slash = rel.size();
      path += "/" + rel.substr(start, slash - start);
      ::mkdir(path.c_str(), 0755);
      start = slash + 1;
    }
  }
  void Chmod(const std::string& rel, mode_t mode) const { ::chmod(Path(rel).c_str(), mode); }
  void Remove(const std::string& rel) const { ::unlink(Path(rel).c_str()); }

 private:
  static int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
    ::chmod(path, 0700);  // unreadable files made by a test
    return ::remove(path);
  }
  std::string root_;
};

// chmod 000 cannot hide a file from root.
inline bool RunningAsRoot() { return ::geteuid() == 0; }

}  // namespace testing
}  // namespace gearshift

#endif  // GEARSHIFT_TESTS_CPP_FAKE_SYSFS_H_
