// Helpers shared by the control-path tests: a scratch directory and a libuv loop on its own
// thread that hosts a ControlServer.
#pragma once

#include <sys/stat.h>
#include <uv.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "daemon/control_server.h"
#include "tests/unit/cli_test_util.h"

namespace keymesh::test {

// Runs a libuv loop with a ControlServer on a thread. The destructor tears the server down
// on the loop thread (where the server lives) and checks the loop closes cleanly, i.e. that
// every handle was closed.
class ServerThread {
 public:
  ServerThread(const std::string& path, daemon::ControlServer::Handler handler,
               daemon::ControlLimits limits = {}) {
    uv_loop_init(&loop_);
    auto server = daemon::ControlServer::start(&loop_, path, std::move(handler), limits);
    if (!server) {
      error_ = server.error().message;
      uv_run(&loop_, UV_RUN_DEFAULT);  // finish any closes start() began
      uv_loop_close(&loop_);
      return;
    }
    server_ = std::move(*server);
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
      auto* self = static_cast<ServerThread*>(a->data);
      self->server_.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
    });
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() { stop(); }

  // Stops the server and joins the thread; returns uv_loop_close's result (0: all closed).
  int stop() {
    if (!thread_.joinable()) return close_result_;
    uv_async_send(&stop_);
    thread_.join();
    close_result_ = uv_loop_close(&loop_);
    return close_result_;
  }

  bool ok() const { return error_.empty(); }
  // The server, for its handler to read stats() on the loop thread.
  daemon::ControlServer* server() const { return server_.get(); }
  const std::string& error() const { return error_; }

 private:
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<daemon::ControlServer> server_;
  std::thread thread_;
  std::string error_;
  int close_result_ = 0;
};

}  // namespace keymesh::test
