// Releases that keymesh-cni could not hand to keymeshd: the deletion queue on disk.
//
// CNI DEL must succeed while keymeshd is down, or a node whose daemon is down cannot finish
// deleting pods. So DEL removes the kernel side itself and, when keymeshd does not answer,
// records the release here and returns success; keymeshd applies the queue when it starts
// and then every second (docs/cni.md, "DEL while keymeshd is down").
//
// One file per attachment, named by the SHA-256 of (container id, ifname), so no runtime-given
// string ever becomes a path. Files are written whole (temporary file, fsync, rename), 0600 in
// a 0700 directory, and never followed through a symlink. The queue is bounded
// (kMaxQueuedReleases); past it, push fails and DEL reports try-again as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keymesh::node {

inline constexpr std::string_view kDefaultReleaseDir = "/var/lib/keymesh/cni-releases";
inline constexpr std::size_t kMaxQueuedReleases = 4096;
inline constexpr std::size_t kMaxReleaseFileBytes = 1024;

struct Release {
  std::string container_id;
  std::string ifname;
  std::string front_door;       // "cni" unless told otherwise
  std::int64_t queued_at = 0;   // unix seconds, for the log line only
  bool operator==(const Release&) const = default;
};

// What pending() found: the well-formed releases, oldest first, and how many files it
// removed because they were not one (truncated by a crash, or not ours).
struct PendingReleases {
  std::vector<Release> releases;
  std::size_t malformed = 0;
};

class ReleaseQueue {
 public:
  explicit ReleaseQueue(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const noexcept { return dir_; }

  // Records one release durably (creating the directory 0700 when missing). Pushing the same
  // attachment twice keeps one record.
  Result<void> push(const Release& release) const;
  // Every queued release. A missing directory is an empty queue.
  PendingReleases pending() const;
  // Forgets one release once it has been applied. Missing is fine.
  void remove(const Release& release) const;

  // The file name of an attachment's record (64 hex digits + ".release").
  static std::string file_name(std::string_view container_id, std::string_view ifname);
  // The record's text, and its strict parse (nullopt-like failure: a message).
  static std::string encode(const Release& release);
  static Result<Release> decode(std::string_view text);

 private:
  std::string dir_;
};

}  // namespace keymesh::node
