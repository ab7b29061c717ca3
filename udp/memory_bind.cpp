#include "udp/memory_bind.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>

namespace keymesh::udp {

namespace detail {

struct Packet {
  Endpoint from;
  std::vector<std::uint8_t> data;
};

struct Held {
  Packet packet;
  std::size_t countdown;  // later arrivals still to overtake it
};

struct Inbox {
  Endpoint local;            // guarded by NetworkState::mu
  std::deque<Packet> queue;  // guarded by NetworkState::mu
  std::vector<Held> held;    // guarded by NetworkState::mu, in the order sent
};

struct NetworkState {
  explicit NetworkState(const MemoryNetworkOptions& o) : options(o), rng(o.seed) {}

  mutable std::mutex mu;
  MemoryNetworkOptions options;                          // guarded by mu
  std::mt19937_64 rng;                                   // guarded by mu
  std::unordered_map<Endpoint, Inbox*> routes;           // guarded by mu
  std::unordered_map<Endpoint, Endpoint> static_out;     // inside -> outside, guarded by mu
  std::unordered_map<Endpoint, Endpoint> static_in;      // outside -> inside, guarded by mu
  std::unordered_map<Endpoint, Endpoint> learned_in;     // from the hook, guarded by mu
  MemoryNetwork::NatHook hook;                           // guarded by mu
  MemoryNetworkCounters counters;                        // guarded by mu
  std::uint16_t next_port = 49152;                       // guarded by mu

  // A uniform draw in [0, 1) from the top 53 bits: the same on every standard library,
  // unlike std::uniform_real_distribution.
  bool chance(double p) {
    if (p <= 0.0) return false;
    return double(rng() >> 11) * 0x1.0p-53 < p;
  }

  // Requires mu.
  Result<void> claim(Endpoint& local, Inbox* inbox) {
    if (!local.valid()) return fail("memory network: bind needs an address");
    if (local.port == 0) {
      for (int tries = 0; tries < 16384; ++tries) {
        Endpoint candidate = local;
        candidate.port = next_port;
        next_port = next_port == 65535 ? 49152 : std::uint16_t(next_port + 1);
        if (!routes.contains(candidate)) {
          local = candidate;
          break;
        }
      }
      if (local.port == 0) return fail("memory network: no free port for " + local.to_string());
    }
    if (!routes.emplace(local, inbox).second)
      return fail("memory network: " + local.to_string() + " is already bound");
    inbox->local = local;
    return {};
  }

  // Requires mu.
  void enqueue(Inbox& inbox, const Endpoint& from, std::span<const std::uint8_t> data) {
    auto push = [&](Packet&& p) {
      if (inbox.queue.size() >= options.inbox_capacity) {
        ++counters.dropped_overflow;
        return;
      }
      inbox.queue.push_back(std::move(p));
      ++counters.delivered;
    };
    Packet p{from, std::vector<std::uint8_t>(data.begin(), data.end())};
    if (options.reorder_window > 0 && chance(options.reorder)) {
      const std::size_t behind = 1 + std::size_t(rng() % options.reorder_window);
      inbox.held.push_back(Held{std::move(p), behind});
      ++counters.reordered;
      return;
    }
    push(std::move(p));
    // Each arrival is overtaking everything held back; release what has waited enough.
    for (auto it = inbox.held.begin(); it != inbox.held.end();) {
      if (--it->countdown == 0) {
        push(std::move(it->packet));
        it = inbox.held.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Requires mu.
  void release(Inbox& inbox) {
    for (auto& h : inbox.held) {
      if (inbox.queue.size() >= options.inbox_capacity) {
        ++counters.dropped_overflow;
        continue;
      }
      inbox.queue.push_back(std::move(h.packet));
      ++counters.delivered;
    }
    inbox.held.clear();
  }

  // Requires mu. One datagram from `from` (a bind's own address) to `to`.
  void route(const Endpoint& from, const Endpoint& to, std::span<const std::uint8_t> data) {
    ++counters.sent;
    if (chance(options.loss)) {
      ++counters.dropped_loss;
      return;
    }
    Endpoint source = from;
    if (auto it = static_out.find(from); it != static_out.end()) {
      source = it->second;
    } else if (hook) {
      source = hook(from, to);
      if (!source.valid()) {
        ++counters.dropped_nat;
        return;
      }
      if (source != from) learned_in[source] = from;
    }
    Endpoint destination = to;
    if (auto it = static_in.find(to); it != static_in.end()) destination = it->second;
    else if (auto l = learned_in.find(to); l != learned_in.end()) destination = l->second;
    auto r = routes.find(destination);
    if (r == routes.end()) {
      ++counters.dropped_unreachable;
      return;
    }
    enqueue(*r->second, source, data);
    if (chance(options.duplicate)) {
      ++counters.duplicated;
      enqueue(*r->second, source, data);
    }
  }
};

}  // namespace detail

// ---- MemoryNetwork ----

MemoryNetwork::MemoryNetwork(const MemoryNetworkOptions& options)
    : state_(std::make_shared<detail::NetworkState>(options)) {}

MemoryNetwork::~MemoryNetwork() = default;

Result<std::unique_ptr<MemoryBind>> MemoryNetwork::bind(const Endpoint& local) {
  auto inbox = std::make_unique<detail::Inbox>();
  Endpoint chosen = local;
  {
    std::lock_guard lock(state_->mu);
    if (auto r = state_->claim(chosen, inbox.get()); !r) return std::unexpected(r.error());
  }
  return std::unique_ptr<MemoryBind>(new MemoryBind(state_, std::move(inbox)));
}

void MemoryNetwork::set_loss(double probability) {
  std::lock_guard lock(state_->mu);
  state_->options.loss = probability;
}

void MemoryNetwork::set_reorder(double probability, std::size_t window) {
  std::lock_guard lock(state_->mu);
  state_->options.reorder = probability;
  state_->options.reorder_window = window;
}

void MemoryNetwork::set_duplicate(double probability) {
  std::lock_guard lock(state_->mu);
  state_->options.duplicate = probability;
}

void MemoryNetwork::add_nat(const Endpoint& inside, const Endpoint& outside) {
  std::lock_guard lock(state_->mu);
  if (auto old = state_->static_out.find(inside); old != state_->static_out.end())
    state_->static_in.erase(old->second);
  state_->static_out[inside] = outside;
  state_->static_in[outside] = inside;
}

void MemoryNetwork::remove_nat(const Endpoint& inside) {
  std::lock_guard lock(state_->mu);
  if (auto it = state_->static_out.find(inside); it != state_->static_out.end()) {
    state_->static_in.erase(it->second);
    state_->static_out.erase(it);
  }
}

void MemoryNetwork::set_nat_hook(NatHook hook) {
  std::lock_guard lock(state_->mu);
  state_->hook = std::move(hook);
  state_->learned_in.clear();
}

bool MemoryNetwork::has_pending() const { return pending() > 0; }

std::size_t MemoryNetwork::pending() const {
  std::lock_guard lock(state_->mu);
  std::size_t n = 0;
  for (const auto& [endpoint, inbox] : state_->routes) n += inbox->queue.size() + inbox->held.size();
  return n;
}

void MemoryNetwork::release_held() {
  std::lock_guard lock(state_->mu);
  for (auto& [endpoint, inbox] : state_->routes) state_->release(*inbox);
}

MemoryNetworkCounters MemoryNetwork::counters() const {
  std::lock_guard lock(state_->mu);
  return state_->counters;
}

// ---- MemoryBind ----

MemoryBind::MemoryBind(std::shared_ptr<detail::NetworkState> network,
                       std::unique_ptr<detail::Inbox> inbox)
    : network_(std::move(network)),
      inbox_(std::move(inbox)),
      local_(inbox_->local),
      slots_(kSendBatch),
      destinations_(kSendBatch),
      sizes_(kSendBatch) {}

MemoryBind::~MemoryBind() {
  flush();
  std::lock_guard lock(network_->mu);
  network_->routes.erase(inbox_->local);
}

Result<void> MemoryBind::rebind(const Endpoint& local) {
  std::lock_guard lock(network_->mu);
  const Endpoint old = inbox_->local;
  network_->routes.erase(old);
  Endpoint chosen = local;
  if (auto r = network_->claim(chosen, inbox_.get()); !r) {
    network_->routes.emplace(old, inbox_.get());
    inbox_->local = old;
    return r;
  }
  local_ = chosen;
  return {};
}

std::size_t MemoryBind::pending() const {
  std::lock_guard lock(network_->mu);
  return inbox_->queue.size() + inbox_->held.size();
}

std::size_t MemoryBind::receive_batch(std::span<Datagram> batch) noexcept {
  std::lock_guard lock(network_->mu);
  auto& inbox = *inbox_;
  // Nothing else is coming right now: whatever was held back arrives late.
  if (inbox.queue.empty()) network_->release(inbox);
  std::size_t n = 0;
  while (n < batch.size() && !inbox.queue.empty()) {
    auto& p = inbox.queue.front();
    if (p.data.size() > batch[n].buffer.size()) {
      ++network_->counters.dropped_too_big;
    } else {
      std::memcpy(batch[n].buffer.data(), p.data.data(), p.data.size());
      batch[n].size = p.data.size();
      batch[n].from = p.from;
      ++n;
    }
    inbox.queue.pop_front();
  }
  return n;
}

std::span<std::uint8_t> MemoryBind::prepare_send(std::size_t capacity) noexcept {
  if (capacity > kMaxDatagram) return {};
  auto& slot = slots_[send_count_];
  // Grows once to the largest size asked for; later sends reuse it.
  if (slot.size() < capacity) slot.resize(capacity);
  prepared_ = true;
  return {slot.data(), slot.size()};
}

void MemoryBind::commit_send(const Endpoint& to, std::size_t size) noexcept {
  if (!prepared_ || size > slots_[send_count_].size() || !to.valid()) {
    prepared_ = false;
    ++send_errors_;
    return;
  }
  prepared_ = false;
  destinations_[send_count_] = to;
  sizes_[send_count_] = size;
  if (++send_count_ == kSendBatch) flush();
}

void MemoryBind::flush() noexcept {
  prepared_ = false;
  if (send_count_ == 0) return;
  std::lock_guard lock(network_->mu);
  for (std::size_t i = 0; i < send_count_; ++i)
    network_->route(inbox_->local, destinations_[i], {slots_[i].data(), sizes_[i]});
  send_count_ = 0;
}

}  // namespace keymesh::udp
