/*
 * The handshake-flood generator of test/bench/flood-bench.ts (Linux; compiled by the bench with
 * the system's cc, run inside the bench's namespace only).
 *
 *   flooder MESSAGES_FILE TARGET_IP TARGET_PORT RATE SECONDS SOURCE_IP...
 *
 * MESSAGES_FILE holds 148-byte handshake initiations with a valid mac1 for the target (the bench
 * writes them: random bodies, so each costs the target its cheap path and, when it is not under
 * load, one Diffie-Hellman). One UDP socket per SOURCE_IP sends them round-robin with sendmmsg,
 * paced to RATE messages a second (0: as fast as the sockets take them), for SECONDS; the same
 * sockets read back what the target answers with recvmmsg. Prints one JSON line: messages sent,
 * cookie replies received (64-byte type-3 messages), send errors, and the seconds it ran.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 148
#define BATCH 64
#define MAX_SOURCES 64

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long drain(int fd) {
  static uint8_t buffers[BATCH][256];
  struct mmsghdr messages[BATCH];
  struct iovec iov[BATCH];
  unsigned long long replies = 0;
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = buffers[i];
      iov[i].iov_len = sizeof buffers[i];
      memset(&messages[i], 0, sizeof messages[i]);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, messages, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return replies;
    for (int i = 0; i < n; i++)
      if (messages[i].msg_len == 64 && buffers[i][0] == 3) replies++;
  }
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s MESSAGES_FILE TARGET_IP TARGET_PORT RATE SECONDS SOURCE_IP...\n", argv[0]);
    return 2;
  }
  FILE *file = fopen(argv[1], "rb");
  if (file == NULL) {
    perror(argv[1]);
    return 1;
  }
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  size_t pool = (size_t)size / MESSAGE;
  if (pool == 0) {
    fprintf(stderr, "%s holds no messages\n", argv[1]);
    return 1;
  }
  uint8_t *messages = malloc(pool * MESSAGE);
  if (messages == NULL || fread(messages, MESSAGE, pool, file) != pool) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(file);

  struct sockaddr_in target = {0};
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
    fprintf(stderr, "bad target %s\n", argv[2]);
    return 2;
  }
  double rate = atof(argv[4]);
  double seconds = atof(argv[5]);
  int sources = argc - 6;
  if (sources > MAX_SOURCES) sources = MAX_SOURCES;
  int fds[MAX_SOURCES];
  for (int s = 0; s < sources; s++) {
    struct sockaddr_in local = {0};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[6 + s], &local.sin_addr) != 1) {
      fprintf(stderr, "bad source %s\n", argv[6 + s]);
      return 2;
    }
    int size_bytes = 4 << 20;
    fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[s] < 0 || bind(fds[s], (struct sockaddr *)&local, sizeof local) != 0) {
      perror("socket/bind");
      return 1;
    }
    /* As root the FORCE variants pass net.core.rmem_max: replies must not be lost here. */
    if (setsockopt(fds[s], SOL_SOCKET, SO_RCVBUFFORCE, &size_bytes, sizeof size_bytes) != 0)
      setsockopt(fds[s], SOL_SOCKET, SO_RCVBUF, &size_bytes, sizeof size_bytes);
    if (setsockopt(fds[s], SOL_SOCKET, SO_SNDBUFFORCE, &size_bytes, sizeof size_bytes) != 0)
      setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &size_bytes, sizeof size_bytes);
  }

  struct mmsghdr batch[BATCH];
  struct iovec iov[BATCH];
  unsigned long long sent = 0, replies = 0, errors = 0;
  size_t next = 0;
  int source = 0;
  double started = now_seconds(), elapsed = 0;
  while ((elapsed = now_seconds() - started) < seconds) {
    unsigned long long due = rate > 0 ? (unsigned long long)(elapsed * rate) : sent + BATCH;
    if (due <= sent) {
      for (int s = 0; s < sources; s++) replies += drain(fds[s]);
      struct timespec pause = {0, 200000};
      nanosleep(&pause, NULL);
      continue;
    }
    unsigned long long want = due - sent;
    int n = want > BATCH ? BATCH : (int)want;
    for (int i = 0; i < n; i++) {
      iov[i].iov_base = messages + MESSAGE * ((next + (size_t)i) % pool);
      iov[i].iov_len = MESSAGE;
      memset(&batch[i], 0, sizeof batch[i]);
      batch[i].msg_hdr.msg_name = &target;
      batch[i].msg_hdr.msg_namelen = sizeof target;
      batch[i].msg_hdr.msg_iov = &iov[i];
      batch[i].msg_hdr.msg_iovlen = 1;
    }
    int done = sendmmsg(fds[source], batch, (unsigned)n, 0);
    if (done > 0) {
      sent += (unsigned long long)done;
      next += (size_t)done;
    } else if (errno != EINTR) {
      errors++;
    }
    source = (source + 1) % sources;
    replies += drain(fds[source]);
  }
  /* The last replies, a moment after the flood ends. */
  double end = now_seconds();
  while (now_seconds() - end < 0.3) {
    for (int s = 0; s < sources; s++) replies += drain(fds[s]);
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  printf("{\"sent\":%llu,\"cookieReplies\":%llu,\"sendErrors\":%llu,\"seconds\":%.3f,\"sources\":%d}\n", sent, replies, errors,
         elapsed, sources);
  return 0;
}
