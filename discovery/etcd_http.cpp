#include "discovery/etcd_http.h"

#include <curl/curl.h>

#include <mutex>

namespace keymesh::discovery {

namespace {

struct Sink {
  std::string* body = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  bool stopped = false;
};

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t len = size * n;
  if (sink->body != nullptr) {
    // Gateway answers are small; a runaway one is cut off.
    if (sink->body->size() + len > (64u << 20)) return 0;
    sink->body->append(data, len);
    return len;
  }
  if (!(*sink->on_data)(std::string_view(data, len))) {
    sink->stopped = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  return len;
}

}  // namespace

void http_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpSession::HttpSession() : multi_(curl_multi_init()), easy_(curl_easy_init()) {}

HttpSession::~HttpSession() {
  curl_easy_cleanup(easy_);
  curl_multi_cleanup(multi_);
}

void HttpSession::wake() noexcept { curl_multi_wakeup(multi_); }

Result<long> HttpSession::perform(const Abort& abort) {
  if (multi_ == nullptr || easy_ == nullptr) return fail("cannot initialise libcurl");
  curl_multi_add_handle(multi_, easy_);
  int running = 1;
  CURLcode result = CURLE_OK;
  bool aborted = false;
  while (true) {
    curl_multi_perform(multi_, &running);
    if (running == 0) break;
    if (abort && abort()) {
      aborted = true;
      break;
    }
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_) result = msg->data.result;
  curl_multi_remove_handle(multi_, easy_);
  if (aborted) return fail("aborted");
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  if (result != CURLE_OK && result != CURLE_WRITE_ERROR) return fail(curl_easy_strerror(result));
  return status;
}

Result<HttpSession::Response> HttpSession::post(const std::string& url, const std::string& body,
                                                std::chrono::milliseconds timeout,
                                                const Abort& abort) {
  Response r;
  Sink sink{.body = &r.body};
  curl_easy_reset(easy_);
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, long(timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, long(timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &sink);
  auto status = perform(abort);
  if (!status) return std::unexpected(status.error());
  r.status = *status;
  return r;
}

Result<long> HttpSession::stream(const std::string& url, const std::string& body,
                                 std::chrono::milliseconds connect_timeout,
                                 const std::function<bool(std::string_view)>& on_data,
                                 const Abort& abort) {
  Sink sink{.on_data = &on_data};
  curl_easy_reset(easy_);
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, long(connect_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  // A dead peer that never resets the connection: TCP keepalive notices within a minute.
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPINTVL, 10L);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &sink);
  return perform(abort);
}

}  // namespace keymesh::discovery
