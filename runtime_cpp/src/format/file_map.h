// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// FileMap: the bytes of a .gear file, read-only, for as long as the object
// lives (RAII). By default the file is mmap'ed so weights are used in place
// and only touched pages are read; with use_mmap=false, or when mmap fails
// (some filesystems, 32-bit address space exhaustion), it is read into a
// page-aligned heap buffer instead. Errors distinguish a missing file
// (kNotFound) from one that exists but cannot be read (kIoError), and both
// name the path. POSIX only (Linux, Android, macOS).
//
// A mapped file that another process truncates while it is mapped can still
// raise SIGBUS on access; that is inherent to mmap and why use_mmap=false
// exists.
#ifndef GEARSHIFT_FORMAT_FILE_MAP_H_
#define GEARSHIFT_FORMAT_FILE_MAP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gearshift/status.h"

namespace gearshift {

class FileMap {
 public:
  // Alignment of the heap buffer; mmap gives at least a page.
  static constexpr size_t kBufferAlignment = 4096;

  static Status Open(const std::string& path, bool use_mmap, std::unique_ptr<FileMap>* out);
  // An aligned private copy of [data, data+size), for in-memory loading.
  static Status CopyOf(const uint8_t* data, size_t size, std::unique_ptr<FileMap>* out);

  ~FileMap();
  FileMap(const FileMap&) = delete;
  FileMap& operator=(const FileMap&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool is_mapped() const { return mapped_; }

 private:
  FileMap() = default;
  static Status AllocateBuffer(size_t size, std::unique_ptr<FileMap>* out);

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // munmap vs aligned delete in the destructor
};

}  // namespace gearshift

#endif  // GEARSHIFT_FORMAT_FILE_MAP_H_
