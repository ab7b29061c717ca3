/* netpol_udp.c - the UDP half of kubernetes_netpol.sh's probe matrix. Debian 12's busybox nc
 * has no UDP mode and busybox has no other UDP server, so the pods run this, built statically
 * by the test (cc -static) and bind-mounted into the busybox pods.
 *
 *   netpol_udp serve PORT...                 answer every datagram on each port with "ok"
 *   netpol_udp probe MS NAME=IP:PORT...      send "ping" to each target (again every 200 ms)
 *                                            for MS milliseconds; print "NAME udp/PORT 1" for
 *                                            the ones that answered "ok", "NAME udp/PORT 0" for
 *                                            the others
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int serve(int n, char **ports) {
  struct pollfd fds[16];
  if (n < 1 || n > 16) return 2;
  for (int i = 0; i < n; i++) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(ports[i]))};
    int one = 1;
    fds[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
    fds[i].events = POLLIN;
    setsockopt(fds[i].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fds[i].fd < 0 || bind(fds[i].fd, (struct sockaddr *)&a, sizeof a) != 0) {
      perror("netpol_udp: bind");
      return 1;
    }
  }
  for (;;) {
    if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      char buf[512];
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      if (recvfrom(fds[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) >= 0)
        sendto(fds[i].fd, "ok", 2, 0, (struct sockaddr *)&from, fl);
    }
  }
}

static int probe(int ms, int n, char **targets) {
  struct pollfd fds[256];
  char name[256][160];
  int port[256], got[256];
  if (n < 1 || n > 256) return 2;
  for (int i = 0; i < n; i++) {
    char t[160], *eq, *colon;
    snprintf(t, sizeof t, "%s", targets[i]);
    eq = strchr(t, '=');
    colon = strrchr(t, ':');
    if (!eq || !colon || colon < eq) {
      fprintf(stderr, "netpol_udp: target %s is not NAME=IP:PORT\n", targets[i]);
      return 2;
    }
    *eq = *colon = 0;
    snprintf(name[i], sizeof name[i], "%s", t);
    port[i] = atoi(colon + 1);
    got[i] = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port[i])};
    if (inet_pton(AF_INET, eq + 1, &a.sin_addr) != 1) {
      fprintf(stderr, "netpol_udp: bad address %s\n", eq + 1);
      return 2;
    }
    fds[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
    fds[i].events = POLLIN;
    if (fds[i].fd < 0) {
      perror("netpol_udp: socket");
      return 1;
    }
    if (connect(fds[i].fd, (struct sockaddr *)&a, sizeof a) != 0) {  /* no route: unreachable */
      close(fds[i].fd);
      fds[i].fd = -1;
    }
  }
  long long end = now_ms() + ms, next = 0;
  for (;;) {
    long long t = now_ms();
    if (t >= end) break;
    if (t >= next) {
      for (int i = 0; i < n; i++)
        if (!got[i] && fds[i].fd >= 0) send(fds[i].fd, "ping", 4, 0);  /* ECONNREFUSED etc.: tried again */
      next = t + 200;
    }
    long long wait = (next < end ? next : end) - t;
    for (int i = 0; i < n; i++) fds[i].events = got[i] ? 0 : POLLIN;
    if (poll(fds, (nfds_t)n, (int)wait) < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      char buf[16];
      if (!(fds[i].revents & POLLIN)) continue;
      ssize_t r = recv(fds[i].fd, buf, sizeof buf, 0);
      if (r == 2 && memcmp(buf, "ok", 2) == 0) got[i] = 1;
    }
    int all = 1;
    for (int i = 0; i < n; i++) all &= got[i] || fds[i].fd < 0;
    if (all) break;
  }
  for (int i = 0; i < n; i++) printf("%s udp/%d %d\n", name[i], port[i], got[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "serve") == 0) return serve(argc - 2, argv + 2);
  if (argc >= 4 && strcmp(argv[1], "probe") == 0) return probe(atoi(argv[2]), argc - 3, argv + 3);
  fprintf(stderr, "usage: netpol_udp serve PORT... | netpol_udp probe MS NAME=IP:PORT...\n");
  return 2;
}
