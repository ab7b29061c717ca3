#include "discovery/etcd_directory.h"

#include <google/protobuf/unknown_field_set.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "discovery.pb.h"
#include "discovery/etcd_http.h"

namespace keymesh::discovery {

using json = nlohmann::json;

struct EtcdDirectory::Event {
  enum class Kind { Snapshot, Put, Delete, Lost, Claim } kind;
  std::vector<Record> records;  // Snapshot: all; Put: one
  std::vector<Bytes> lists;     // revocation lists seen (Snapshot and Put)
  Fingerprint fingerprint{};    // Delete
  std::uint64_t bad = 0;        // values that did not decode
  std::string holder;           // Claim: "" ours, else who holds our node CA
};

namespace {

std::string b64(std::string_view s) {
  return to_base64(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::optional<std::string> unb64(const json& j) {
  if (!j.is_string()) return std::nullopt;
  auto bytes = from_base64(j.get<std::string>());
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

// etcd's range_end for "every key with this prefix".
std::string prefix_end(std::string p) {
  while (!p.empty()) {
    if (static_cast<unsigned char>(p.back()) < 0xff) {
      p.back() = char(static_cast<unsigned char>(p.back()) + 1);
      return p;
    }
    p.pop_back();
  }
  return std::string(1, '\0');
}

std::string network_key(const std::string& prefix, const std::string& network, const std::string& hex) {
  std::string n = network;
  std::replace(n.begin(), n.end(), '/', '_');
  return prefix + "/networks/" + n + "/" + hex;
}

std::optional<Record> record_from_value(const std::string& value) {
  proto::discovery::Record wire;
  if (!wire.ParseFromString(value)) return std::nullopt;
  // Lifetime is etcd's business (leases): keep the record until etcd deletes it.
  auto r = from_wire(wire, WallTime{}, std::chrono::seconds(UINT32_MAX));
  if (!r) return std::nullopt;
  r->expires = WallTime::max();
  return std::move(*r);
}

std::optional<Fingerprint> fingerprint_from_key(const std::string& key, const std::string& records_prefix) {
  if (!key.starts_with(records_prefix)) return std::nullopt;
  auto bytes = from_hex(std::string_view(key).substr(records_prefix.size()));
  Fingerprint fp;
  if (!bytes || bytes->size() != fp.size()) return std::nullopt;
  std::copy(bytes->begin(), bytes->end(), fp.begin());
  return fp;
}

// A gateway reply as JSON, or an error with etcd's message.
Result<json> call(HttpSession& http, const std::string& url, const json& body,
                  std::chrono::milliseconds timeout, const HttpSession::Abort& abort) {
  auto r = http.post(url, body.dump(), timeout, abort);
  if (!r) return fail(url + ": " + r.error().message);
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string message = "HTTP " + std::to_string(r->status);
    if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string())
      message += ": " + j["message"].get<std::string>();
    return fail(url + ": " + message);
  }
  if (j.is_discarded() || !j.is_object()) return fail(url + ": reply is not JSON");
  return j;
}

std::string id_of(const json& j) {
  return j.contains("ID") && j["ID"].is_string() ? j["ID"].get<std::string>() : std::string();
}

}  // namespace

EtcdDirectory::EtcdDirectory(uv_loop_t*, EtcdOptions options)
    : options_(std::move(options)), cache_(options_.cache) {}

Result<std::unique_ptr<EtcdDirectory>> EtcdDirectory::open(uv_loop_t* loop, EtcdOptions options) {
  if (options.endpoints.empty()) return fail("etcd: no endpoints");
  for (auto& e : options.endpoints) {
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      return fail("etcd: endpoint \"" + e + "\" is not an http:// or https:// URL");
    while (e.ends_with('/')) e.pop_back();
  }
  if (options.lease_ttl < std::chrono::seconds(2)) return fail("etcd: lease_ttl below 2 s");
  while (options.prefix.ends_with('/')) options.prefix.pop_back();
  http_global_init();
  std::unique_ptr<EtcdDirectory> d(new EtcdDirectory(loop, std::move(options)));
  if (int rc = uv_async_init(loop, d->async_.get(), [](uv_async_t* a) {
        static_cast<EtcdDirectory*>(a->data)->drain();
      });
      rc != 0)
    return fail(std::string("etcd: uv_async_init: ") + uv_strerror(rc));
  d->async_.get()->data = d.get();
  // libprotobuf creates some shared instances on first use (the empty UnknownFieldSet every
  // parsed Record refers to). Create them here, before the writer and watcher parse records
  // at once: the guard is inside libprotobuf.so, where ThreadSanitizer cannot see it.
  (void)google::protobuf::UnknownFieldSet::default_instance();
  d->writer_http_ = std::make_unique<HttpSession>();
  d->watcher_http_ = std::make_unique<HttpSession>();
  d->writer_ = std::thread([p = d.get()] { p->writer_main(); });
  d->watcher_ = std::thread([p = d.get()] { p->watcher_main(); });
  return d;
}

EtcdDirectory::~EtcdDirectory() {
  {
    // Under the mutex: a thread that has just seen stop_ false in its wait predicate, but is
    // not yet waiting, would miss a notify sent in between and sleep out its whole wait.
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_cv_.notify_all();
  if (writer_http_) writer_http_->wake();
  if (watcher_http_) watcher_http_->wake();
  if (writer_.joinable()) writer_.join();
  if (watcher_.joinable()) watcher_.join();
}

// ---- Loop thread ----

Result<void> EtcdDirectory::publish(Record record) {
  if (auto ok = check_record(record); !ok) return ok;
  if (auto ok = cache_.publish(record); !ok) return ok;
  proto::discovery::Record wire;
  to_wire(record, WallTime{}, wire);
  Desired d{wire.SerializeAsString(), {}};
  for (const auto& n : record.networks) d.networks.push_back(n.to_string());
  {
    std::lock_guard lock(mutex_);
    desired_[record.fingerprint] = std::move(d);
    desired_changed_ = true;
  }
  changed_cv_.notify_all();
  own_[record.fingerprint] = std::move(record);
  return {};
}

void EtcdDirectory::withdraw(const Fingerprint& fingerprint) {
  if (own_.erase(fingerprint) == 0) return;
  cache_.withdraw(fingerprint);
  {
    std::lock_guard lock(mutex_);
    desired_.erase(fingerprint);
    desired_changed_ = true;
  }
  changed_cv_.notify_all();
}

void EtcdDirectory::publish_revocation_list(const Fingerprint& issuer, Bytes list) {
  {
    std::lock_guard lock(mutex_);
    desired_lists_[issuer] = std::move(list);
    desired_changed_ = true;
  }
  changed_cv_.notify_all();
}

void EtcdDirectory::post(Event event) {
  {
    std::lock_guard lock(mutex_);
    inbox_.push_back(std::move(event));
  }
  uv_async_send(async_.get());
}

void EtcdDirectory::drain() {
  std::vector<Event> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(inbox_);
  }
  for (auto& e : events) {
    stats_.bad_values += e.bad;
    if (on_revocation_list_)
      for (const Bytes& list : e.lists) on_revocation_list_(ByteSpan(list.data(), list.size()));
    switch (e.kind) {
      case Event::Kind::Snapshot: {
        std::vector<Record> all;
        for (auto& r : e.records)
          if (!own_.contains(r.fingerprint)) all.push_back(std::move(r));
        for (const auto& [fp, r] : own_) all.push_back(r);
        if (auto ok = cache_.replace_all(std::move(all)); !ok)
          spdlog::warn("etcd: {}", ok.error().message);
        synced_ = true;
        ++stats_.syncs;
        break;
      }
      case Event::Kind::Put:
        ++stats_.events;
        for (auto& r : e.records)
          if (!own_.contains(r.fingerprint)) (void)cache_.publish(std::move(r));
        break;
      case Event::Kind::Delete:
        ++stats_.events;
        if (!own_.contains(e.fingerprint)) cache_.withdraw(e.fingerprint);
        break;
      case Event::Kind::Claim:
        if (on_node_ca_claim_) on_node_ca_claim_(e.holder);
        break;
      case Event::Kind::Lost:
        synced_ = false;
        break;
    }
  }
}

// ---- Writer thread: lease and our records ----

// Create-if-absent: <prefix>/nodeca/<hex> = claimant under `lease`. Held by us already (the
// same claimant, e.g. before a restart): put again under the current lease. "" when ours,
// else the holder's claimant.
Result<std::string> EtcdDirectory::claim_node_ca(HttpSession& http, const std::string& base,
                                                 const std::string& lease) {
  const std::string key = b64(options_.prefix + "/nodeca/" + to_hex(*options_.node_ca));
  const json put = {{"key", key}, {"value", b64(options_.claimant)}, {"lease", lease}};
  const json txn = {
      {"compare", json::array({{{"key", key}, {"target", "CREATE"}, {"result", "EQUAL"},
                                {"create_revision", "0"}}})},
      {"success", json::array({{{"request_put", put}}})},
      {"failure", json::array({{{"request_range", {{"key", key}}}}})}};
  auto j = call(http, base + "/v3/kv/txn", txn, options_.request_timeout, [this] { return stop_.load(); });
  if (!j) return std::unexpected(j.error());
  if (j->value("succeeded", false)) return std::string();
  std::string holder;
  try {
    const json& kvs = (*j)["responses"].at(0)["response_range"]["kvs"];
    if (kvs.is_array() && !kvs.empty()) holder = unb64(kvs.at(0)["value"]).value_or("");
  } catch (const json::exception&) {
    return fail("etcd: node CA claim: unexpected reply " + j->dump());
  }
  if (holder.empty()) return fail("etcd: node CA claim: key vanished; retrying");
  if (holder != options_.claimant) return holder;
  auto again = call(http, base + "/v3/kv/put", put, options_.request_timeout, [this] { return stop_.load(); });
  if (!again) return std::unexpected(again.error());
  return std::string();
}

void EtcdDirectory::writer_main() {
  HttpSession& http = *writer_http_;
  const auto abort = [this] { return stop_.load(); };
  const std::string records = options_.prefix + "/records/";
  const auto ttl = options_.lease_ttl;
  std::size_t endpoint = 0;
  std::string lease;                      // empty: none granted
  std::map<Fingerprint, Desired> written;  // what etcd holds under `lease`
  std::map<Fingerprint, Bytes> written_lists;  // revocation lists put (no lease)
  const std::string crls = options_.prefix + "/crl/";
  auto backoff = options_.backoff_min;
  Clock::time_point next_keepalive{};
  Clock::time_point next_claim{};  // node CA claim check (options_.node_ca)
  bool failing = false;  // log a streak of failures once, and its end

  while (!stop_) {
    const std::string base = options_.endpoints[endpoint % options_.endpoints.size()];
    Result<void> step = [&]() -> Result<void> {
      if (lease.empty()) {
        auto j = call(http, base + "/v3/lease/grant", {{"TTL", ttl.count()}}, options_.request_timeout, abort);
        if (!j) return std::unexpected(j.error());
        lease = id_of(*j);
        if (lease.empty()) return fail("etcd: lease grant without an ID");
        written.clear();  // everything goes again under the new lease
        next_keepalive = Clock::now() + ttl / 3;
        next_claim = {};
      }
      if (options_.node_ca && Clock::now() >= next_claim) {
        auto holder = claim_node_ca(http, base, lease);
        if (!holder) return std::unexpected(holder.error());
        post(Event{Event::Kind::Claim, {}, {}, {}, 0, *holder});
        next_claim = Clock::now() + ttl / 3;
      }
      std::map<Fingerprint, Desired> want;
      std::map<Fingerprint, Bytes> want_lists;
      {
        std::lock_guard lock(mutex_);
        want = desired_;
        want_lists = desired_lists_;
        desired_changed_ = false;
      }
      for (const auto& [issuer, list] : want_lists) {
        const auto old = written_lists.find(issuer);
        if (old != written_lists.end() && old->second == list) continue;
        const std::string value(list.begin(), list.end());
        json put = {{"key", b64(crls + to_hex(issuer))}, {"value", b64(value)}};
        auto j = call(http, base + "/v3/kv/put", put, options_.request_timeout, abort);
        if (!j) return std::unexpected(j.error());
        written_lists[issuer] = list;
      }
      for (const auto& [fp, d] : want) {
        const auto old = written.find(fp);
        if (old != written.end() && old->second == d) continue;
        const std::string hex = to_hex(fp);
        json ops = json::array();
        ops.push_back({{"request_put", {{"key", b64(records + hex)}, {"value", b64(d.value)}, {"lease", lease}}}});
        for (const auto& n : d.networks)
          ops.push_back({{"request_put", {{"key", b64(network_key(options_.prefix, n, hex))},
                                          {"value", b64(hex)}, {"lease", lease}}}});
        if (old != written.end())
          for (const auto& n : old->second.networks)
            if (std::find(d.networks.begin(), d.networks.end(), n) == d.networks.end())
              ops.push_back({{"request_delete_range", {{"key", b64(network_key(options_.prefix, n, hex))}}}});
        auto j = call(http, base + "/v3/kv/txn", {{"success", ops}}, options_.request_timeout, abort);
        if (!j) return std::unexpected(j.error());
        written[fp] = d;
      }
      for (auto it = written.begin(); it != written.end();) {
        if (want.contains(it->first)) {
          ++it;
          continue;
        }
        const std::string hex = to_hex(it->first);
        json ops = json::array();
        ops.push_back({{"request_delete_range", {{"key", b64(records + hex)}}}});
        for (const auto& n : it->second.networks)
          ops.push_back({{"request_delete_range", {{"key", b64(network_key(options_.prefix, n, hex))}}}});
        auto j = call(http, base + "/v3/kv/txn", {{"success", ops}}, options_.request_timeout, abort);
        if (!j) return std::unexpected(j.error());
        it = written.erase(it);
      }
      if (Clock::now() >= next_keepalive) {
        auto j = call(http, base + "/v3/lease/keepalive", {{"ID", lease}}, options_.request_timeout, abort);
        if (!j) return std::unexpected(j.error());
        const json& result = (*j).contains("result") ? (*j)["result"] : *j;
        const std::string left = result.contains("TTL") && result["TTL"].is_string()
                                     ? result["TTL"].get<std::string>() : "0";
        if (left == "0") {  // the lease is gone (expired while we were away): start over
          spdlog::info("etcd: lease expired; granting a new one and re-publishing");
          lease.clear();
          return {};
        }
        next_keepalive = Clock::now() + ttl / 3;
      }
      return {};
    }();

    if (stop_) break;
    if (!step) {
      if (step.error().message.find("lease not found") != std::string::npos) {
        lease.clear();  // etcd lost it (restarted from scratch, or it expired): not a failure
        continue;
      }
      if (!failing) spdlog::warn("etcd: {}; retrying with backoff", step.error().message);
      else spdlog::debug("etcd: {}; retrying in {} ms", step.error().message, backoff.count());
      failing = true;
      ++failures_;
      watcher_http_->wake();
      ++endpoint;
      std::unique_lock lock(mutex_);
      changed_cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    if (failing) spdlog::info("etcd: writer reconnected to {}", base);
    failing = false;
    backoff = options_.backoff_min;
    if (lease.empty()) continue;
    std::unique_lock lock(mutex_);
    changed_cv_.wait_until(lock, options_.node_ca ? std::min(next_keepalive, next_claim) : next_keepalive, [this] { return stop_.load() || desired_changed_; });
  }

  if (!lease.empty()) {  // leave at once instead of lingering for a TTL
    const std::string base = options_.endpoints[endpoint % options_.endpoints.size()];
    (void)call(http, base + "/v3/lease/revoke", {{"ID", lease}},
               std::min(options_.request_timeout, std::chrono::milliseconds(1000)), {});
  }
}

// ---- Watcher thread: the mirror ----

void EtcdDirectory::watcher_main() {
  HttpSession& http = *watcher_http_;
  const std::string records = options_.prefix + "/records/";
  const std::string crls = options_.prefix + "/crl/";
  // The whole prefix (records and revocation lists; network index keys are skipped).
  const std::string all = options_.prefix + "/";
  const json range = {{"key", b64(all)}, {"range_end", b64(prefix_end(all))}};
  // Sorts one key/value into `e`: a record, a revocation list, or nothing of ours.
  const auto take = [&](const std::string& key, const std::optional<std::string>& value, Event& e) {
    if (key.starts_with(crls)) {
      if (value && !value->empty()) e.lists.emplace_back(value->begin(), value->end());
      return;
    }
    if (!key.starts_with(records)) return;
    auto r = value ? record_from_value(*value) : std::nullopt;
    if (r) e.records.push_back(std::move(*r));
    else ++e.bad;
  };
  std::size_t endpoint = 0;
  auto backoff = options_.backoff_min;
  bool failing = false;

  while (!stop_) {
    const std::string base = options_.endpoints[endpoint % options_.endpoints.size()];
    const std::uint64_t epoch = failures_.load();
    const auto abort = [&] { return stop_.load() || failures_.load() != epoch; };
    bool synced = false;

    auto snapshot = call(http, base + "/v3/kv/range", range, options_.request_timeout, abort);
    if (snapshot) {
      Event e{Event::Kind::Snapshot};
      if ((*snapshot).contains("kvs"))
        for (const auto& kv : (*snapshot)["kvs"]) {
          auto key = unb64(kv.value("key", json()));
          if (key) take(*key, unb64(kv.value("value", json())), e);
        }
      const json& header = (*snapshot)["header"];
      const std::int64_t revision =
          header.contains("revision") ? std::stoll(header["revision"].get<std::string>()) : 0;
      post(std::move(e));
      synced = true;
      if (failing) spdlog::info("etcd: watcher reconnected to {}", base);
      failing = false;
      backoff = options_.backoff_min;

      json watch = {{"create_request", range}};
      watch["create_request"]["start_revision"] = std::to_string(revision + 1);
      std::string buffer;
      // The gateway streams one JSON object per line.
      const auto on_line = [&](std::string_view line) -> bool {
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || j.contains("error")) return false;
        const json& res = j.contains("result") ? j["result"] : j;
        if (res.value("canceled", false) || res.contains("compact_revision")) return false;
        if (!res.contains("events")) return true;
        for (const auto& ev : res["events"]) {
          const json& kv = ev.contains("kv") ? ev["kv"] : json::object();
          auto key = unb64(kv.value("key", json()));
          if (!key) continue;
          if (ev.value("type", std::string("PUT")) == "DELETE") {
            if (auto fp = fingerprint_from_key(*key, records))
              post(Event{Event::Kind::Delete, {}, {}, *fp});
            continue;
          }
          Event put{Event::Kind::Put};
          take(*key, unb64(kv.value("value", json())), put);
          if (!put.records.empty() || !put.lists.empty() || put.bad > 0) post(std::move(put));
        }
        return true;
      };
      auto ended = http.stream(
          base + "/v3/watch", watch.dump(), options_.request_timeout,
          [&](std::string_view chunk) {
            buffer.append(chunk);
            for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
              const std::string line = buffer.substr(0, nl);
              buffer.erase(0, nl + 1);
              if (!line.empty() && !on_line(line)) return false;
            }
            if (!buffer.empty() && buffer.size() < (16u << 20)) {  // an object without a newline yet
              json j = json::parse(buffer, nullptr, false);
              if (!j.is_discarded()) {
                const std::string line = std::move(buffer);
                buffer.clear();
                return on_line(line);
              }
            }
            return true;
          },
          abort);
      if (!stop_)
        spdlog::info("etcd: watch on {} ended ({}); reconnecting", base,
                     ended ? "closed" : ended.error().message);
    } else if (!stop_) {
      if (!failing) spdlog::warn("etcd: {}; retrying with backoff", snapshot.error().message);
      failing = true;
    }
    post(Event{Event::Kind::Lost});
    if (stop_) break;
    ++endpoint;
    std::unique_lock lock(mutex_);
    changed_cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
    if (!synced) backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace keymesh::discovery
