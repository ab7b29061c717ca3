// Control-socket requests (proto/control.proto), one function each. Runs on the loop thread,
// between packet batches, so it may touch the tunnel directly.
#include <spdlog/spdlog.h>

#include "common/bytes.h"
#include "daemon/daemon_impl.h"
#include "identity/cert_file.h"
#include "policy/loader.h"

namespace keymesh::daemon {

namespace {

proto::Reply error_reply(std::string message) {
  proto::Reply reply;
  reply.set_error(std::move(message));
  return reply;
}

}  // namespace

proto::Reply Daemon::Impl::handle(const proto::Request& request) {
  proto::Reply reply;
  switch (request.kind_case()) {
    case proto::Request::kStatus: {
      *reply.mutable_status() = tunnel->status();
      reply.mutable_status()->set_policy_file(config.policy_file);
      if (control) *reply.mutable_status()->mutable_control_socket() = control->stats();
      if (edge) edge->describe(workloads ? &*workloads : nullptr, *reply.mutable_status());
      return reply;
    }

    case proto::Request::kIdentityAdd: {
      const auto& r = request.identity_add();
      if (r.certificate_chain().empty()) return identity_mint(r);
      auto chain = identity::parse_certificates_text(
          ByteSpan(reinterpret_cast<const std::uint8_t*>(r.certificate_chain().data()),
                   r.certificate_chain().size()));
      if (!chain) return error_reply("certificate: " + chain.error().message);
      auto key = decode_key(r.private_key());
      if (!key) return error_reply("key: " + key.error().message);
      LocalIdentitySpec spec;
      spec.name = r.name();
      spec.private_key = std::move(*key);
      spec.chain = std::move(*chain);
      spec.source = "imported";
      auto added = tunnel->add_local_identity(std::move(spec));
      if (!added) return error_reply(added.error().message);
      describe_identity(**added, *reply.mutable_identity_add()->mutable_identity());
      return reply;
    }

    case proto::Request::kIdentityRemove: {
      const std::string& name = request.identity_remove().name();
      if (const LocalIdentity* l = tunnel->find_local(name); l && l->source != "imported") {
        if (l->source == "config") return error_reply("identity " + name + " comes from the config file");
        if (auto r = forget_minted(l->name); !r) return error_reply(r.error().message);
      }
      auto closed = tunnel->remove_local_identity(name);
      if (!closed) return error_reply(closed.error().message);
      reply.mutable_identity_remove()->set_paths_closed(*closed);
      return reply;
    }

    case proto::Request::kIdentityList: {
      auto* list = reply.mutable_identity_list();
      for (const LocalIdentity* local : tunnel->local_identities())
        describe_identity(*local, *list->add_identities());
      return reply;
    }

    case proto::Request::kPolicyCheck: {
      const auto& r = request.policy_check();
      if (!policy) return error_reply("no policy is loaded (config key `policy`)");
      auto subject_of = [&](const std::string& who) -> Result<policy::Subject> {
        if (const LocalIdentity* l = tunnel->find_local(who); l && l->certified) return l->subject;
        if (const RemoteIdentity* rem = tunnel->find_remote(who)) return rem->subject;
        if (const policy::Subject* raw = tunnel->find_raw_subject(who)) return *raw;
        return fail("no identity " + who + " is known to this daemon (local identities, "
                    "remote ones it has seen, raw-key peers when a policy is configured)");
      };
      auto from = subject_of(r.from());
      if (!from) return error_reply("--from: " + from.error().message);
      auto to = subject_of(r.to());
      if (!to) return error_reply("--to: " + to.error().message);
      auto service = policy::parse_service(r.port());
      if (!service) return error_reply("--port: " + service.error().message);
      policy::Proto proto = policy::Proto::kOther;
      for (auto p : {policy::Proto::kTcp, policy::Proto::kUdp, policy::Proto::kIcmp})
        if (service->protos & (1u << unsigned(p))) {
          proto = p;
          break;
        }
      const WallTime at = r.at_unix() != 0 ? WallTime(std::chrono::seconds(r.at_unix()))
                                           : time.wall_now();
      const auto decision = policy->check(*from, *to, proto, service->lo, at);
      auto* out = reply.mutable_policy_check();
      out->set_allow(decision.allow);
      out->set_rule(decision.rule);
      out->set_reason(decision.reason);
      for (const auto& [k, v] : from->context) (*out->mutable_from_context())[k] = v;
      for (const auto& [k, v] : to->context) (*out->mutable_to_context())[k] = v;
      return reply;
    }

    case proto::Request::kPolicyReload: {
      if (config.policy_file.empty()) return error_reply("no policy file is configured");
      const std::size_t before = tunnel->path_count();
      auto previous = policy;
      reload_policy("control socket");
      if (policy == previous) return error_reply("policy reload failed; see the daemon log");
      auto* out = reply.mutable_policy_reload();
      out->set_rules(std::uint32_t(policy->rules().size()));
      out->set_paths_closed(std::uint32_t(before - tunnel->path_count()));
      return reply;
    }

    case proto::Request::kWorkloadAdd: return workload_add(request.workload_add());
    case proto::Request::kWorkloadDel: return workload_del(request.workload_del());
    case proto::Request::kWorkloadList: return workload_list();
    case proto::Request::kWorkloadGc: return workload_gc(request.workload_gc());

    case proto::Request::kReady: {
      auto* out = reply.mutable_ready();
      out->set_ready(true);
      out->set_mtu(std::uint32_t(mtu));
      out->set_interface(config.interface_name);
      return reply;
    }

    default:
      return error_reply("unsupported request");
  }
}

}  // namespace keymesh::daemon
