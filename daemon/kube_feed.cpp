#include "daemon/kube_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kube/reflector.h"

namespace keymesh::daemon {

namespace {
constexpr auto kBackoffMin = std::chrono::milliseconds(500);
constexpr auto kBackoffMax = std::chrono::milliseconds(30'000);

std::string_view kind_name(kube::Kind k) {
  switch (k) {
    case kube::Kind::kPod: return "pods";
    case kube::Kind::kNamespace: return "namespaces";
    case kube::Kind::kNetworkPolicy: return "networkpolicies";
  }
  return "?";
}

constexpr const char* kNetworkPoliciesPath = "/apis/networking.k8s.io/v1/networkpolicies";

// spec.nodeName=<node>, escaped for a query string (node names are DNS subdomains: only '='
// needs it).
std::string pods_path(const std::string& node) {
  return "/api/v1/pods?fieldSelector=spec.nodeName%3D" + node;
}
}  // namespace

KubeFeed::KubeFeed(const KubernetesConfig& config, Handler handler)
    : handler_(std::move(handler)), node_(config.node_name), network_policy_(config.network_policy) {
  kube::ApiConfig api{.server = config.api_server,
                      .token_file = config.token_file,
                      .ca_file = config.ca_file};
  // Constructed here, on the loop thread: curl_global_init (in ApiClient's constructor) is not
  // thread-safe. Each thread then uses only its own client.
  pods_api_ = std::make_unique<kube::ApiClient>(api);
  namespaces_api_ = std::make_unique<kube::ApiClient>(api);
  fetch_api_ = std::make_unique<kube::ApiClient>(api);
  if (network_policy_) policies_api_ = std::make_unique<kube::ApiClient>(api);
}

Result<std::unique_ptr<KubeFeed>> KubeFeed::start(uv_loop_t* loop, const KubernetesConfig& config,
                                                  Handler handler) {
  std::unique_ptr<KubeFeed> feed(new KubeFeed(config, std::move(handler)));
  if (int rc = uv_async_init(loop, feed->async_.get(),
                             [](uv_async_t* h) { static_cast<KubeFeed*>(h->data)->drain(); });
      rc != 0)
    return fail(std::string("kubernetes: uv_async_init: ") + uv_strerror(rc));
  feed->async_.get()->data = feed.get();
  KubeFeed* f = feed.get();
  f->threads_.emplace_back([f] {
    f->collection(kube::Kind::kPod, pods_path(f->node_), *f->pods_api_, f->cancel_pods_);
  });
  f->threads_.emplace_back([f] {
    f->collection(kube::Kind::kNamespace, "/api/v1/namespaces", *f->namespaces_api_,
                  f->cancel_namespaces_);
  });
  if (f->network_policy_)
    f->threads_.emplace_back([f] {
      f->collection(kube::Kind::kNetworkPolicy, kNetworkPoliciesPath, *f->policies_api_,
                    f->cancel_policies_);
    });
  f->threads_.emplace_back([f] { f->fetcher(*f->fetch_api_); });
  spdlog::info("kubernetes: watching the pods of node {}, all namespaces{} at {}", config.node_name,
               config.network_policy ? " and all network policies" : "", config.api_server);
  return feed;
}

KubeFeed::~KubeFeed() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cancel_pods_ = true;
    cancel_namespaces_ = true;
    cancel_policies_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  async_.reset();  // after the joins: nobody sends to it any more
}

bool KubeFeed::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [&] { return stopping_.load(); });
}

void KubeFeed::push(KubeBatch batch) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(batch));
  }
  uv_async_send(async_.get());
}

void KubeFeed::drain() {
  std::deque<KubeBatch> batches;
  {
    std::lock_guard lock(mutex_);
    batches.swap(queue_);
  }
  for (auto& b : batches) handler_(b);
}

void KubeFeed::fetch_pod(const std::string& ns, const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& f : fetch_)
      if (f.first == ns && f.second == name) return;
    fetch_.emplace_back(ns, name);
  }
  wake_.notify_all();
}

void KubeFeed::collection(kube::Kind kind, std::string path, kube::ApiClient& api,
                          std::atomic<bool>& cancel) {
  kube::Reflector reflector(kind, path);
  auto backoff = kBackoffMin;
  const auto failed = [&](const std::string& what) {
    ++errors;
    spdlog::warn("kubernetes: {}: {}; again in {} ms", kind_name(kind), what, backoff.count());
    const bool go_on = pause(backoff);
    backoff = std::min(backoff * 2, kBackoffMax);
    return go_on;
  };
  while (!stopping_) {
    if (reflector.needs_list()) {
      auto body = api.get(reflector.next_request(), &stopping_);
      if (stopping_) break;
      if (!body) {
        if (!failed("list: " + body.error().message)) break;
        continue;
      }
      auto changes = reflector.on_list(*body);
      if (!changes) {
        if (!failed(changes.error())) break;
        continue;
      }
      KubeBatch b{.kind = kind, .source = KubeBatch::Source::kList};
      for (const auto& [k, p] : reflector.pods()) b.pods.push_back(p);
      for (const auto& [k, n] : reflector.namespaces()) b.namespaces.push_back(n);
      for (const auto& [k, n] : reflector.network_policies()) b.network_policies.push_back(n);
      ++lists;
      spdlog::info("kubernetes: listed {} {} (resourceVersion {})",
                   b.pods.size() + b.namespaces.size() + b.network_policies.size(),
                   kind_name(kind), reflector.resource_version());
      push(std::move(b));
      backoff = kBackoffMin;
      continue;
    }
    bool delivered = false;
    auto watched = api.watch(
        reflector.next_request(),
        [&](std::string_view line) {
          if (line.empty()) return;
          auto changes = reflector.on_event(line);
          if (!changes) {
            ++bad_lines;
            spdlog::warn("kubernetes: {}: {}", kind_name(kind), changes.error());
            return;
          }
          if (reflector.needs_list()) {  // 410 Gone inside the stream: list again
            cancel = true;
            return;
          }
          if (changes->empty()) return;  // a bookmark
          KubeBatch b{.kind = kind, .source = KubeBatch::Source::kWatch};
          for (const auto& c : *changes) {
            ++events;
            if (c.type == kube::EventType::kDeleted) {
              b.deleted.push_back(c.key);
            } else if (kind == kube::Kind::kPod) {
              if (auto it = reflector.pods().find(c.key); it != reflector.pods().end())
                b.pods.push_back(it->second);
            } else if (kind == kube::Kind::kNetworkPolicy) {
              if (auto it = reflector.network_policies().find(c.key);
                  it != reflector.network_policies().end())
                b.network_policies.push_back(it->second);
            } else if (auto it = reflector.namespaces().find(c.key);
                       it != reflector.namespaces().end()) {
              b.namespaces.push_back(it->second);
            }
          }
          delivered = true;
          push(std::move(b));
        },
        cancel);
    if (stopping_) break;
    cancel = false;
    if (delivered) backoff = kBackoffMin;
    if (!watched) {
      if (watched.error().status == 410) {
        reflector.on_gone();
        continue;
      }
      if (!failed("watch: " + watched.error().message)) break;
      continue;
    }
    reflector.on_disconnect();  // the server ended the watch (timeoutSeconds): resume
  }
}

void KubeFeed::fetcher(kube::ApiClient& api) {
  while (true) {
    std::pair<std::string, std::string> want;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_.load() || !fetch_.empty(); });
      if (stopping_) return;
      want = fetch_.front();
    }
    const std::string key = want.first + "/" + want.second;
    KubeBatch b{.kind = kube::Kind::kPod, .source = KubeBatch::Source::kFetch, .key = key};
    auto body = api.get("/api/v1/namespaces/" + want.first + "/pods/" + want.second, &stopping_);
    if (!body) {
      b.source = KubeBatch::Source::kFetchFailed;
      b.error = body.error().message;
      b.http_status = body.error().status;
    } else if (auto pod = kube::parse_pod(*body); !pod) {
      b.source = KubeBatch::Source::kFetchFailed;
      b.error = pod.error();
    } else {
      b.pods.push_back(std::move(*pod));
    }
    {
      std::lock_guard lock(mutex_);
      if (!fetch_.empty()) fetch_.pop_front();
    }
    push(std::move(b));
  }
}

}  // namespace keymesh::daemon
