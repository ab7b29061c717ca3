// The API server over HTTPS with libcurl, as the DaemonSet's service account: GET for lists,
// a streamed GET for watches (one JSON object per line). Blocking; run it on its own thread
// and hand what it reads to the event loop.
#pragma once

#include <atomic>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

namespace keymesh::kube {

struct ApiConfig {
  std::string server;      // "https://10.96.0.1:443"; default from KUBERNETES_SERVICE_HOST/PORT
  std::string token_file;  // bearer token (re-read on every request: the kubelet rotates it)
  std::string ca_file;     // the API server's CA
  long connect_timeout_seconds = 5;
};

// The in-cluster defaults: the service account volume the kubelet mounts into every pod, and the
// API server address it puts into the environment. SERVER overrides the environment (a node
// without kube-proxy cannot reach the "kubernetes" Service's ClusterIP).
ApiConfig in_cluster_config(std::string server = {});

struct HttpError {
  long status = 0;  // HTTP status, 0 when no reply (connection, TLS)
  std::string message;
};

class ApiClient {
 public:
  explicit ApiClient(ApiConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // The whole body of GET PATH (at most kMaxListBytes); STOP (when given) ends it early, as
  // for watch().
  std::expected<std::string, HttpError> get(std::string_view path, const std::atomic<bool>* stop = nullptr);
  // GET PATH as a stream: ON_LINE for every complete line, until the server ends the reply,
  // an error, or STOP becomes true (checked at least once a second).
  std::expected<void, HttpError> watch(std::string_view path, const std::function<void(std::string_view)>& on_line,
                                       const std::atomic<bool>& stop);

 private:
  ApiConfig config_;
};

}  // namespace keymesh::kube
