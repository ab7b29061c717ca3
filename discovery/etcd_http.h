// HttpSession: the few HTTP calls the etcd backend makes to etcd's v3 JSON gateway, with
// libcurl (Debian's libcurl4-openssl-dev). Each call blocks the calling WORKER thread (never
// the daemon's loop) and returns early when `abort()` turns true: abort is checked at least
// once a second, and at once after wake() from any thread. One session per worker thread; it
// keeps the connection open between calls.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

using CURL = void;
using CURLM = void;

namespace keymesh::discovery {

class HttpSession {
 public:
  HttpSession();
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  struct Response {
    long status = 0;
    std::string body;
  };
  using Abort = std::function<bool()>;

  // POST `body` (JSON) to `url`; the whole exchange must finish within `timeout`.
  Result<Response> post(const std::string& url, const std::string& body,
                        std::chrono::milliseconds timeout, const Abort& abort);
  // POST and stream the response: on_data gets each chunk as it arrives and returns false to
  // stop. Returns the HTTP status when the stream ends (server closed it, or on_data stopped).
  Result<long> stream(const std::string& url, const std::string& body,
                      std::chrono::milliseconds connect_timeout,
                      const std::function<bool(std::string_view)>& on_data, const Abort& abort);
  // Any thread: makes a blocked call check its abort() now.
  void wake() noexcept;

 private:
  Result<long> perform(const Abort& abort);

  CURLM* multi_;
  CURL* easy_;
};

// curl_global_init, once per process; call before starting threads (EtcdDirectory::open does).
void http_global_init();

}  // namespace keymesh::discovery
