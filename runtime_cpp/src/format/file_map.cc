// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// POSIX implementation of FileMap (see file_map.h): open/fstat/mmap with a
// read() fallback into an aligned buffer. The file descriptor is closed as
// soon as the bytes are mapped or read; a mapping stays valid without it.
#include "format/file_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

namespace gearshift {
namespace {

std::string ErrnoText(int err) { return std::system_category().message(err); }

// Closes the descriptor on every return path.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

FileMap::~FileMap() {
  if (data_ == nullptr) return;
  if (mapped_) {
    ::munmap(data_, size_);
  } else {
    ::operator delete(data_, std::align_val_t(kBufferAlignment));
  }
}

Status FileMap::AllocateBuffer(size_t size, std::unique_ptr<FileMap>* out) {
  std::unique_ptr<FileMap> map(new (std::nothrow) FileMap());
  if (!map) return Status(StatusCode::kInternal, "out of memory");
  // Allocate at least one byte so data() is never null.
  void* p = ::operator new(size == 0 ? 1 : size, std::align_val_t(kBufferAlignment),
                           std::nothrow);
  if (p == nullptr) {
    return Status(StatusCode::kInternal,
                  "out of memory allocating " + std::to_string(size) + " bytes for the file");
  }
  map->data_ = static_cast<uint8_t*>(p);
  map->size_ = size;
  *out = std::move(map);
  return Status::Ok();
}

Status FileMap::CopyOf(const uint8_t* data, size_t size, std::unique_ptr<FileMap>* out) {
  GS_RETURN_IF_ERROR(AllocateBuffer(size, out));
  if (size != 0) std::memcpy((*out)->data_, data, size);
  return Status::Ok();
}

Status FileMap::Open(const std::string& path, bool use_mmap, std::unique_ptr<FileMap>* out) {
  // O_NONBLOCK so that opening a FIFO cannot hang; it is refused below.
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    const StatusCode code =
        (err == ENOENT || err == ENOTDIR) ? StatusCode::kNotFound : StatusCode::kIoError;
    return Status(code, "cannot open '" + path + "': " + ErrnoText(err));
  }
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return Status(StatusCode::kIoError, "cannot stat '" + path + "': " + ErrnoText(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status(StatusCode::kIoError, "cannot open '" + path + "': is a directory");
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(StatusCode::kIoError, "cannot open '" + path + "': not a regular file");
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > SIZE_MAX) {
    return Status(StatusCode::kIoError,
                  "cannot open '" + path + "': file too large for this address space");
  }
  const size_t size = static_cast<size_t>(st.st_size);

  if (use_mmap && size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      std::unique_ptr<FileMap> map(new (std::nothrow) FileMap());
      if (!map) {
        ::munmap(p, size);
        return Status(StatusCode::kInternal, "out of memory");
      }
      map->data_ = static_cast<uint8_t*>(p);
      map->size_ = size;
      map->mapped_ = true;
      *out = std::move(map);
      return Status::Ok();
    }
    // Fall through to reading: mmap is an optimisation, not a requirement.
  }

  std::unique_ptr<FileMap> map;
  GS_RETURN_IF_ERROR(AllocateBuffer(size, &map));
  size_t done = 0;
  while (done < size) {
    const ssize_t r = ::read(fd, map->data_ + done, size - done);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status(StatusCode::kIoError, "cannot read '" + path + "': " + ErrnoText(errno));
    }
    if (r == 0) {
      return Status(StatusCode::kIoError, "cannot read '" + path + "': file shrank to " +
                                              std::to_string(done) + " bytes while reading");
    }
    done += static_cast<size_t>(r);
  }
  *out = std::move(map);
  return Status::Ok();
}

}  // namespace gearshift
