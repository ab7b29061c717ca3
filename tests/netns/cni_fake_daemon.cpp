// cni_fake_daemon: keymeshd's workload requests for the keymesh-cni netns tests (the daemon
// side is tested elsewhere). Serves tests/unit/cni_fake_daemon.h on a control socket and
// appends each request, one line each, to a log file. Stops on SIGTERM or SIGINT.
//
//   cni_fake_daemon SOCKET LOGFILE [--not-ready | --refuse MESSAGE]
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "daemon/control_server.h"
#include "tests/unit/cni_fake_daemon.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cni_fake_daemon SOCKET LOGFILE [--not-ready | --refuse MESSAGE]\n");
    return 2;
  }
  keymesh::test::FakeWorkloadDaemon fake;
  if (argc > 3 && std::strcmp(argv[3], "--not-ready") == 0) fake.set_ready(false);
  if (argc > 4 && std::strcmp(argv[3], "--refuse") == 0) fake.set_refuse(argv[4]);
  std::ofstream log(argv[2], std::ios::app);
  std::size_t logged = 0;

  uv_loop_t loop;
  uv_loop_init(&loop);
  auto server = keymesh::daemon::ControlServer::start(
      &loop, argv[1], [&](const keymesh::proto::Request& request) {
        auto reply = fake.handle(request);
        const auto lines = fake.log();
        for (; logged < lines.size(); ++logged) log << lines[logged] << std::endl;
        return reply;
      });
  if (!server) {
    std::fprintf(stderr, "cni_fake_daemon: %s\n", server.error().message.c_str());
    return 1;
  }
  // Either signal closes the server and both signal handles, so the loop ends.
  uv_signal_t signals[2];
  loop.data = &*server;
  for (int i = 0; i < 2; ++i) {
    uv_signal_init(&loop, &signals[i]);
    signals[i].data = &signals[1 - i];
    uv_signal_start(&signals[i], [](uv_signal_t* s, int) {
      static_cast<std::unique_ptr<keymesh::daemon::ControlServer>*>(s->loop->data)->reset();
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
      uv_close(static_cast<uv_handle_t*>(s->data), nullptr);
    }, i == 0 ? SIGTERM : SIGINT);
  }
  std::printf("listening on %s\n", argv[1]);
  std::fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
