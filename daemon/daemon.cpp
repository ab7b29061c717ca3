#include "daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <csignal>

#include "common/bytes.h"
#include "common/uv_handle.h"
#include "daemon/daemon_impl.h"
#include "daemon/docker_front_door.h"
#include "daemon/kube_pods.h"
#include "daemon/metrics_audit_sink.h"
#include "daemon/metrics_http.h"
#include "tun/netlink.h"

namespace keymesh::daemon {

namespace {
// How much one wake-up of the loop may process before yielding to the other sources, so a
// flood on one side cannot starve the other or the timers.
constexpr std::size_t kPumpBudget = 256;
constexpr std::uint64_t kTickMillis = 50;
// How often site routes follow the remote identities the tunnel learned (routes.h).
constexpr std::uint64_t kRoutesSyncMillis = 250;
// IPv4 + UDP + WireGuard data overhead; IPv6 would be 80 (docs/architecture.md). We default to the
// larger so the same MTU works over either underlay.
constexpr int kOverlayOverhead = 80;
}  // namespace

Daemon::Impl::~Impl() {
  // Reverse order of construction; closing handles needs the loop to run once more.
  kube.reset();  // joins its threads
  metrics_http.reset();
  docker.reset();
  edge_timer.reset();
  control.reset();
  routes_timer.reset();
  close_discovery();
  release_timer.reset();
  renew_timer.reset();
  crl_watch.reset();
  policy_watch.reset();
  sighup.reset();
  sigterm.reset();
  sigint.reset();
  tick_timer.reset();
  log_timer.reset();
  socket_poll.reset();
  device_poll.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  tunnel.reset();  // writes the end records of the flows still tracked
  flow_log.reset();
  audit.reset();
  audit_counter.reset();
  audit_sink.reset();
  bind.reset();
  device.reset();
}

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::create(Config config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  Config& cfg = impl->config;
  if (cfg.timers.wall_clock_start_unix != 0) {
    const auto start = WallTime(std::chrono::seconds(cfg.timers.wall_clock_start_unix));
    impl->time = ShiftedTimeSource(start - std::chrono::system_clock::now());
    spdlog::warn("testing.wall_clock_start_unix: the wall clock starts at {} (not the system's)",
                 cfg.timers.wall_clock_start_unix);
  }
  if (int rc = uv_loop_init(&impl->loop); rc != 0)
    return fail(std::string("event loop: ") + uv_strerror(rc));
  // First, so that an address that cannot be bound fails before any kernel state is made.
  // Nothing is answered before Daemon::run() runs the loop, when every part exists.
  if (auto r = impl->open_metrics(); !r) return std::unexpected(r.error());

  int mtu = 0;
  if (cfg.mtu) {
    mtu = *cfg.mtu;
  } else {
    auto underlay = tun::underlay_mtu();
    if (!underlay) return std::unexpected(underlay.error());
    mtu = *underlay - kOverlayOverhead;
    // A relayed packet carries a relay envelope too (daemon/relay.h): reserve it whenever a
    // path may run through a relay (discovery names relays, or `relays:` is set).
    if (!cfg.relays.empty() || cfg.lighthouse || !cfg.lighthouses.empty())
      mtu -= int(kRelayEnvelopeSize);
  }

  auto device =
      tun::LinuxTun::open(cfg.interface_name, mtu, tun::LinuxTunOptions{.offload = true});
  if (!device) return std::unexpected(device.error());
  impl->device = std::move(*device);
  for (const auto& address : cfg.addresses)
    if (auto r = tun::add_address(cfg.interface_name, address); !r)
      return std::unexpected(r.error());
  if (auto r = tun::set_link_up(cfg.interface_name); !r) return std::unexpected(r.error());
  // Routes for allowed IPs that the interface's own prefixes do not already cover.
  for (const auto& peer : cfg.peers)
    for (const auto& prefix : peer.allowed_ips) {
      bool covered = false;
      for (const auto& address : cfg.addresses)
        covered |= address.length <= prefix.length && address.network().contains(prefix.address);
      if (!covered)
        if (auto r = tun::add_route(cfg.interface_name, prefix); !r)
          return std::unexpected(r.error());
    }

  auto bind = udp::SocketBind::open(cfg.listen_port, cfg.socket_buffer_bytes,
                                    {.offload = cfg.udp_offload});
  if (!bind) return std::unexpected(bind.error());
  spdlog::info("udp: port {}, GSO {}, GRO {}{}", (*bind)->local_port(), (*bind)->gso() ? "on" : "off",
               (*bind)->gro() ? "on" : "off", cfg.udp_offload ? "" : " (udp_offload: off)");
  impl->bind = std::move(*bind);

  if (!cfg.audit_log.empty() || cfg.audit_syslog) {
    std::unique_ptr<policy::FileAuditSink> file;
    if (!cfg.audit_log.empty()) {
      auto sink = policy::FileAuditSink::open(cfg.audit_log);
      if (!sink) return fail("audit_log: " + sink.error().message);
      file = std::move(*sink);
    }
    impl->audit_sink = std::make_unique<policy::LogSinks>(
        std::move(file),
        cfg.audit_syslog ? std::make_unique<policy::SyslogAuditSink>() : nullptr);
    // Audit lines pass a counter (keymesh_audit_events_total); flow records do not.
    impl->audit_counter = std::make_unique<CountingAuditSink>(*impl->audit_sink);
    impl->audit = std::make_unique<policy::AuditLog>(*impl->audit_counter);
    if (cfg.flow_log.enabled)
      impl->flow_log =
          std::make_unique<policy::FlowLog>(*impl->audit_sink, cfg.flow_log.max_per_second);
  }
  impl->mtu = mtu;
  impl->tunnel = std::make_unique<Tunnel>(cfg, *impl->device, *impl->bind, impl->time);
  impl->tunnel->set_audit(impl->audit.get());
  impl->tunnel->set_flow_log(impl->flow_log.get());
  impl->open_relaying();
  if (auto r = impl->load_trust(); !r) return std::unexpected(r.error());
  if (auto r = impl->load_policy(); !r) return std::unexpected(r.error());
  if (auto r = impl->load_identities(); !r) return std::unexpected(r.error());
  if (auto r = impl->open_workloads(); !r) return std::unexpected(r.error());
  if (auto r = impl->open_kubernetes(); !r) return std::unexpected(r.error());
  if (auto r = impl->open_discovery(); !r) return std::unexpected(r.error());
  if (auto r = impl->open_revocations(); !r) return std::unexpected(r.error());
  impl->open_release_queue();  // before the control socket serves: queued DELs come first
  if (!cfg.masquerade.empty()) {
    auto masquerade = start_masquerade(cfg, *impl->tunnel);
    if (!masquerade) return std::unexpected(masquerade.error());
    impl->masquerade = std::move(*masquerade);
  }

  Impl* self = impl.get();
  impl->loop.data = self;
  uv_poll_init(&impl->loop, impl->device_poll.get(), impl->device->fd());
  impl->device_poll.get()->data = self;
  uv_poll_start(impl->device_poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    static_cast<Impl*>(h->data)->tunnel->pump_inside(kPumpBudget);
  });
  uv_poll_init(&impl->loop, impl->socket_poll.get(), impl->bind->fd());
  impl->socket_poll.get()->data = self;
  uv_poll_start(impl->socket_poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    static_cast<Impl*>(h->data)->tunnel->pump_outside(kPumpBudget);
  });
  uv_timer_init(&impl->loop, impl->tick_timer.get());
  impl->tick_timer.get()->data = self;
  uv_timer_start(
      impl->tick_timer.get(),
      [](uv_timer_t* h) { static_cast<Impl*>(h->data)->tunnel->tick(); }, kTickMillis,
      kTickMillis);
  for (auto* sig : {&impl->sigint, &impl->sigterm, &impl->sighup}) {
    uv_signal_init(&impl->loop, sig->get());
    sig->get()->data = self;
  }
  auto on_stop = [](uv_signal_t* h, int signum) {
    spdlog::info("received signal {}, shutting down", signum);
    uv_stop(h->loop);
  };
  uv_signal_start(impl->sigint.get(), on_stop, SIGINT);
  uv_signal_start(impl->sigterm.get(), on_stop, SIGTERM);
  uv_signal_start(
      impl->sighup.get(),
      [](uv_signal_t* h, int) {
        auto* self = static_cast<Impl*>(h->data);
        if (self->audit_sink)
          if (auto r = self->audit_sink->reopen(); !r)
            spdlog::error("SIGHUP: {}", r.error().message);
        self->reload_policy("SIGHUP");
        self->reload_trust("SIGHUP");
      },
      SIGHUP);
  impl->watch_files();
  if (impl->audit_sink) {
    uv_timer_init(&impl->loop, impl->log_timer.get());
    impl->log_timer.get()->data = self;
    uv_timer_start(
        impl->log_timer.get(),
        [](uv_timer_t* h) { static_cast<Impl*>(h->data)->audit_sink->follow(); }, 1000, 1000);
  }
  impl->site_routes = std::make_unique<SiteRoutes>(cfg.interface_name, cfg.addresses);
  impl->sync_routes();
  uv_timer_init(&impl->loop, impl->routes_timer.get());
  impl->routes_timer.get()->data = self;
  uv_timer_start(
      impl->routes_timer.get(),
      [](uv_timer_t* h) { static_cast<Impl*>(h->data)->sync_routes(); }, kRoutesSyncMillis,
      kRoutesSyncMillis);

  auto control = ControlServer::start(
      &impl->loop, cfg.control_socket,
      [self](const proto::Request& request) {
        proto::Reply reply = self->handle(request);
        self->publish_now();  // identity add, WorkloadAdd: registered before the reply goes
        return reply;
      });
  if (!control) return std::unexpected(control.error());
  impl->control = std::move(*control);

  if (cfg.docker) {
    auto docker = DockerFrontDoor::start(*impl, *cfg.docker);
    if (!docker) return std::unexpected(docker.error());
    impl->docker = std::move(*docker);
  }

  // After the front doors: the edge filter's sets follow policy and workloads from here on.
  impl->edge = std::make_unique<EdgeKeeper>(cfg);
  uv_timer_init(&impl->loop, impl->edge_timer.get());
  impl->edge_timer.get()->data = self;
  uv_timer_start(
      impl->edge_timer.get(),
      [](uv_timer_t* h) {
        auto* self = static_cast<Impl*>(h->data);
        self->edge->tick(*self->tunnel, self->workloads ? &*self->workloads : nullptr,
                         self->audit.get(), self->time.wall_now());
      },
      0, std::uint64_t(EdgeKeeper::kTick.count()));

  spdlog::info("keymeshd up: interface {} mtu {}, listening on UDP port {}, public key {}, {} "
               "peer(s)",
               cfg.interface_name, mtu, impl->bind->local_port(),
               to_base64(impl->tunnel->public_key()), cfg.peers.size());
  if (impl->tunnel->local_identities().size() > 1 || impl->tunnel->trust())
    spdlog::info("{} local identit(ies), {} trusted root(s), policy: {}",
                 impl->tunnel->local_identities().size(), impl->trust.roots().size(),
                 cfg.policy_file.empty() ? "none (nothing certified is granted)" : cfg.policy_file);
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

int Daemon::run() {
  uv_run(&impl_->loop, UV_RUN_DEFAULT);
  return 0;
}

}  // namespace keymesh::daemon
