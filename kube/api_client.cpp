#include "kube/api_client.h"

#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kube/objects.h"

namespace keymesh::kube {
namespace {

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string read_token(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

struct Sink {
  std::string buffer;
  std::size_t limit = kMaxListBytes;
  const std::function<void(std::string_view)>* on_line = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool too_big = false;
};

size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (sink->stop != nullptr && sink->stop->load()) return 0;  // aborts the transfer
  sink->buffer.append(data, len);
  if (sink->on_line != nullptr) {
    std::size_t start = 0, nl;
    while ((nl = sink->buffer.find('\n', start)) != std::string::npos) {
      (*sink->on_line)(std::string_view(sink->buffer).substr(start, nl - start));
      start = nl + 1;
    }
    sink->buffer.erase(0, start);
    if (sink->buffer.size() > kMaxEventBytes) sink->too_big = true;
  } else if (sink->buffer.size() > sink->limit) {
    sink->too_big = true;
  }
  return sink->too_big ? 0 : len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* sink = static_cast<Sink*>(user);
  return sink->stop != nullptr && sink->stop->load() ? 1 : 0;
}

std::expected<long, HttpError> perform(const ApiConfig& cfg, std::string_view path, Sink& sink, bool stream) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return std::unexpected(HttpError{0, "curl_easy_init failed"});
  const std::string url = cfg.server + std::string(path);
  const std::string auth = "Authorization: Bearer " + read_token(cfg.token_file);
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CAINFO, cfg.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, cfg.connect_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sink);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  if (!stream) curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  // A watch that goes silent (no bookmark, no event) for 6 minutes is dead: reconnect.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 360L);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (sink.too_big) return std::unexpected(HttpError{status, "reply too large"});
  if (rc != CURLE_OK && !(sink.stop != nullptr && sink.stop->load()))
    return std::unexpected(HttpError{status, std::string("GET ") + std::string(path) + ": " + curl_easy_strerror(rc)});
  if (status != 200) return std::unexpected(HttpError{status, "GET " + std::string(path) + ": HTTP " + std::to_string(status)});
  return status;
}

}  // namespace

ApiConfig in_cluster_config(std::string server) {
  ApiConfig c;
  if (server.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host != nullptr && *host != '\0') {
      const std::string h = host;
      server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
               (port != nullptr && *port != '\0' ? port : "443");
    }
  }
  c.server = std::move(server);
  c.token_file = std::string(kServiceAccountDir) + "/token";
  c.ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  return c;
}

ApiClient::ApiClient(ApiConfig config) : config_(std::move(config)) { curl_global_init(CURL_GLOBAL_DEFAULT); }
ApiClient::~ApiClient() = default;

std::expected<std::string, HttpError> ApiClient::get(std::string_view path, const std::atomic<bool>* stop) {
  Sink sink;
  sink.stop = stop;
  auto r = perform(config_, path, sink, false);
  if (!r) return std::unexpected(r.error());
  return std::move(sink.buffer);
}

std::expected<void, HttpError> ApiClient::watch(std::string_view path,
                                                const std::function<void(std::string_view)>& on_line,
                                                const std::atomic<bool>& stop) {
  Sink sink;
  sink.on_line = &on_line;
  sink.stop = &stop;
  auto r = perform(config_, path, sink, true);
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace keymesh::kube
