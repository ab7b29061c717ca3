#include "discovery/udp_transport.h"

#include <cstring>

namespace keymesh::discovery {

namespace {

// One queued datagram: the request and its bytes live together until the callback, which
// touches nothing else (the transport may be gone by then: closing cancels pending sends).
struct QueuedSend {
  uv_udp_send_t request;
  Bytes bytes;
};

}  // namespace

UdpTransport::UdpTransport(ReceiveFn on_receive) : on_receive_(std::move(on_receive)) {}

Result<std::unique_ptr<UdpTransport>> UdpTransport::open(uv_loop_t* loop, const udp::Endpoint& bind,
                                                         ReceiveFn on_receive) {
  if (!bind.valid()) return fail("discovery: no address to bind the lighthouse socket to");
  std::unique_ptr<UdpTransport> t(new UdpTransport(std::move(on_receive)));
  const auto failed = [&](const char* step, int rc) {
    return fail("discovery: " + std::string(step) + " " + bind.to_string() + ": " + uv_strerror(rc));
  };
  if (int rc = uv_udp_init(loop, t->socket_.get()); rc != 0) return failed("socket", rc);
  t->socket_.get()->data = t.get();
  sockaddr_storage ss{};
  bind.to_sockaddr(ss);
  if (int rc = uv_udp_bind(t->socket_.get(), reinterpret_cast<const sockaddr*>(&ss), 0); rc != 0)
    return failed("bind", rc);
  sockaddr_storage got{};
  int len = sizeof got;
  if (int rc = uv_udp_getsockname(t->socket_.get(), reinterpret_cast<sockaddr*>(&got), &len); rc != 0)
    return failed("getsockname", rc);
  t->local_ = udp::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&got));
  if (int rc = uv_udp_recv_start(t->socket_.get(), &UdpTransport::on_alloc, &UdpTransport::on_recv);
      rc != 0)
    return failed("receive", rc);
  return t;
}

UdpTransport::~UdpTransport() {
  if (socket_.get() != nullptr && socket_.get()->loop != nullptr) {
    uv_udp_recv_stop(socket_.get());
    socket_.get()->data = nullptr;
  }
}

void UdpTransport::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<UdpTransport*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->buffer_.data()), unsigned(self->buffer_.size()));
}

void UdpTransport::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                           const sockaddr* addr, unsigned flags) {
  auto* self = static_cast<UdpTransport*>(handle->data);
  if (self == nullptr) return;
  if (nread < 0) {
    ++self->stats_.receive_errors;
    return;
  }
  if (addr == nullptr) return;  // nothing more to read for now
  if (flags & UV_UDP_PARTIAL) {
    ++self->stats_.truncated;
    return;
  }
  ++self->stats_.received;
  const udp::Endpoint from = udp::Endpoint::from_sockaddr(addr);
  if (self->on_receive_)
    self->on_receive_(from, ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base), std::size_t(nread)));
}

void UdpTransport::send(const udp::Endpoint& to, ByteSpan datagram) noexcept {
  sockaddr_storage ss{};
  if (to.to_sockaddr(ss) == 0) {
    ++stats_.send_errors;
    return;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(datagram.data())),
                             unsigned(datagram.size()));
  const int rc = uv_udp_try_send(socket_.get(), &buf, 1, reinterpret_cast<const sockaddr*>(&ss));
  if (rc >= 0) {
    ++stats_.sent;
    return;
  }
  if (rc != UV_EAGAIN) {
    ++stats_.send_errors;
    return;
  }
  auto* q = new (std::nothrow) QueuedSend{};
  if (q == nullptr) {
    ++stats_.send_errors;
    return;
  }
  q->bytes.assign(datagram.begin(), datagram.end());
  q->request.data = q;
  uv_buf_t copy = uv_buf_init(reinterpret_cast<char*>(q->bytes.data()), unsigned(q->bytes.size()));
  const int qrc = uv_udp_send(&q->request, socket_.get(), &copy, 1,
                              reinterpret_cast<const sockaddr*>(&ss),
                              [](uv_udp_send_t* req, int) { delete static_cast<QueuedSend*>(req->data); });
  if (qrc != 0) {
    delete q;
    ++stats_.send_errors;
    return;
  }
  ++stats_.queued;
}

}  // namespace keymesh::discovery
