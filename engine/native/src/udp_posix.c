/*
 * The UDP underlay on Linux and macOS: one IPv4 and one IPv6 socket (IPV6_V6ONLY) bound to
 * the same port, non-blocking, with large buffers, watched on the main event loop.
 *
 * Receive: when a socket is readable we take up to one batch of datagrams with a single
 * recvmmsg (Linux; a recvmsg loop elsewhere) straight into the JS slot buffer, and write each
 * sender into a 40-byte record of `sources`: [family 4|6][1 if a local address follows][port,
 * big-endian][address, 16 bytes, IPv4 in the first 4][local address it was sent to, 16 bytes]
 * [interface index, big-endian u32]. Datagrams that do not fit a slot (MSG_TRUNC) are dropped
 * and counted; the kept ones are described by offsets/lengths, so nothing is copied.
 *
 * Sticky source (Linux, as wireguard-go and the kernel's WireGuard): IP_PKTINFO and
 * IPV6_RECVPKTINFO tell which of our addresses each datagram was sent to; replies to that
 * endpoint name it as their source (IP_PKTINFO / IPV6_PKTINFO on send), so a host with several
 * addresses answers from the one the peer wrote to, not whichever the routing table picks,
 * which a peer behind NAT or a firewall would drop. If the kernel refuses the source (the
 * address is gone: IPv4 says ENETUNREACH, IPv6 EINVAL; EADDRNOTAVAIL too), the datagrams go
 * again without it and the caller is told (udpSend's result), so it stops asking for it.
 *
 * Send: all datagrams of one call go to one endpoint, with sendmmsg on Linux, runs of equal-size
 * datagrams as one UDP GSO message each (see send_datagrams).
 *
 * UDP GRO (Linux): with the UDP_GRO socket option the kernel hands over a run of equal-size
 * datagrams from one sender as one message of up to 64 KiB, with a UDP_GRO control message
 * giving the datagram size; when the peer sent them as one GSO message (wireguard-go, or us)
 * over a veth or a GRO-capable NIC, they are never cut apart in the kernel at all. The socket
 * then receives into 64 KiB regions of the slot buffer instead of slots, and each message is
 * described as the datagrams it holds, where they lie (offsets/lengths have room for 64 per
 * message), so nothing is copied. WIRELANE_UDP_GRO=0 turns it off (for comparisons).
 */
#ifndef _WIN32

#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* wireguard-go asks for 7 MiB socket buffers; throughput suffers badly with the defaults. */
#define SOCKET_BUFFER_BYTES (7 << 20)
#define SEND_CHUNK 64
#ifdef __linux__
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
/* Kernels before 6.x accept at most 64 segments per GSO send; and one IP packet's payload. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
/* One GRO message: at most 64 datagrams (UDP_GRO_CNT_MAX) and one IP packet's worth of bytes. */
#define GRO_MAX_SEGMENTS 64
#define GRO_REGION 65536
#endif
/* Control-message room per received datagram (UDP_GRO's int, IP_PKTINFO/IPV6_PKTINFO). */
#define RECEIVE_CONTROL_BYTES 128
#define PORT_ATTEMPTS 100

struct udp_bind;

typedef struct udp_socket {
  int fd;
  int family; /* 4 or 6 */
  uv_poll_t poll;
  int poll_open;
  int polling;
  /* Datagrams shorter than this may be grouped into one UDP GSO send (0: never). */
  size_t gso_limit;
  int gro; /* UDP_GRO is on: receive into GRO_REGION-byte regions and split (see above) */
  struct udp_bind *owner;
} udp_socket;

typedef struct udp_bind {
  udp_socket sockets[2]; /* [0] IPv4, [1] IPv6; fd -1 when that family is unavailable */
  uint16_t port;
  uint32_t mark;
  int open;
  int delivering;
  int finalized;
  io_batch batch;
  io_callback on_event;
  io_stats stats;
  napi_env env;
#ifdef __linux__
  struct mmsghdr *messages;
#endif
  struct iovec *iovecs;
  struct sockaddr_storage *addresses;
  uint8_t *controls; /* RECEIVE_CONTROL_BYTES per message */
} udp_bind;

static const napi_type_tag udp_tag = {0x7769726c616e6575ULL, 0x647062696e640001ULL};

static void free_receive_arrays(udp_bind *bind) {
#ifdef __linux__
  free(bind->messages);
  bind->messages = NULL;
#endif
  free(bind->iovecs);
  free(bind->addresses);
  free(bind->controls);
  bind->iovecs = NULL;
  bind->addresses = NULL;
  bind->controls = NULL;
}

static void release_js(udp_bind *bind) {
  io_batch_release(bind->env, &bind->batch);
  io_callback_release(&bind->on_event);
  free_receive_arrays(bind);
}

static void maybe_free(udp_bind *bind) {
  if (bind->finalized && !bind->sockets[0].poll_open && !bind->sockets[1].poll_open) free(bind);
}

static void on_poll_closed(uv_handle_t *handle) {
  udp_socket *sock = (udp_socket *)handle->data;
  sock->poll_open = 0;
  maybe_free(sock->owner);
}

static void close_socket(udp_socket *sock) {
  if (sock->polling) {
    uv_poll_stop(&sock->poll);
    sock->polling = 0;
  }
  if (sock->poll_open && !uv_is_closing((uv_handle_t *)&sock->poll))
    uv_close((uv_handle_t *)&sock->poll, on_poll_closed);
  if (sock->fd >= 0) {
    close(sock->fd);
    sock->fd = -1;
  }
}

static void close_bind(udp_bind *bind) {
  close_socket(&bind->sockets[0]);
  close_socket(&bind->sockets[1]);
  bind->open = 0;
  bind->port = 0;
  if (!bind->delivering) release_js(bind);
}

static void set_buffer_sizes(int fd) {
  int size = SOCKET_BUFFER_BYTES;
#ifdef SO_RCVBUFFORCE
  /* As root (CAP_NET_ADMIN) the FORCE variants go past net.core.rmem_max/wmem_max. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
#endif
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
#ifdef SO_SNDBUFFORCE
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
#endif
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int apply_mark(int fd, uint32_t mark) {
#ifdef SO_MARK
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) return -errno;
#else
  (void)fd;
  (void)mark; /* no socket marks on this OS; wireguard-go ignores fwmark here too */
#endif
  return 0;
}

/* Opens and binds one socket; returns the fd or -errno. *port receives the bound port. */
static int open_socket(int family, uint16_t *port, uint32_t mark) {
  int fd, err, one = 1;
  struct sockaddr_storage address;
  socklen_t length;
  memset(&address, 0, sizeof address);
  if (family == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(*port);
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    length = sizeof *v4;
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(*port);
    v6->sin6_addr = in6addr_any;
    length = sizeof *v6;
  }
  fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return -errno;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    goto fail;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) goto fail;
#ifdef __linux__
  /* Sticky source: learn the local address of each datagram (best effort; without it, none). */
  if (family == 4) setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  else setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
#endif
  set_buffer_sizes(fd);
  if (mark != 0 && (err = apply_mark(fd, mark)) < 0) {
    close(fd);
    return err;
  }
  if (bind(fd, (struct sockaddr *)&address, length) < 0) goto fail;
  length = sizeof address;
  if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) goto fail;
  *port = ntohs(family == 4 ? ((struct sockaddr_in *)&address)->sin_port
                            : ((struct sockaddr_in6 *)&address)->sin6_port);
  return fd;
fail:
  err = errno;
  close(fd);
  return -err;
}

/* Turns UDP GRO on where the kernel has it and it is not turned off; 1 if it is on. */
static int enable_gro(int fd) {
#ifdef __linux__
  const char *setting = getenv("WIRELANE_UDP_GRO");
  int one = 1;
  if (setting != NULL && strcmp(setting, "0") == 0) return 0;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
#else
  (void)fd;
  return 0;
#endif
}

static int family_unavailable(int err) { return err == EAFNOSUPPORT || err == EPROTONOSUPPORT || err == EADDRNOTAVAIL; }

/*
 * Binds IPv4 then IPv6 on the same port. With port 0 the IPv6 socket takes the port the
 * IPv4 one got; if that port is taken for IPv6 we start over, as wireguard-go does.
 * Returns 0 or -errno, with *failed_family set to the family that failed.
 */
static int open_pair(udp_bind *bind, uint16_t requested, int *failed_family) {
  for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    uint16_t port = requested;
    int v4 = open_socket(4, &port, bind->mark), v6;
    if (v4 < 0 && !family_unavailable(-v4)) {
      *failed_family = 4;
      return v4;
    }
    v6 = open_socket(6, &port, bind->mark);
    if (v6 < 0 && !family_unavailable(-v6)) {
      if (v4 >= 0) close(v4);
      if (v6 == -EADDRINUSE && requested == 0) continue;
      *failed_family = 6;
      return v6;
    }
    if (v4 < 0 && v6 < 0) {
      *failed_family = 4;
      return v4;
    }
    bind->sockets[0].fd = v4 < 0 ? -1 : v4;
    bind->sockets[1].fd = v6 < 0 ? -1 : v6;
    for (int i = 0; i < 2; i++) bind->sockets[i].gro = bind->sockets[i].fd >= 0 && enable_gro(bind->sockets[i].fd);
    bind->port = port;
    return 0;
  }
  *failed_family = 6;
  return -EADDRINUSE;
}

/* The local end of a received datagram (IP_PKTINFO / IPV6_PKTINFO); family 0 when unknown. */
typedef struct local_source {
  uint8_t family;
  uint8_t address[16];
  uint32_t ifindex;
} local_source;

static void write_source(uint8_t *record, const struct sockaddr_storage *address, const local_source *local) {
  memset(record, 0, SOURCE_RECORD_BYTES);
  if (local->family != 0) {
    record[1] = 1;
    memcpy(record + 20, local->address, 16);
    record[36] = (uint8_t)(local->ifindex >> 24);
    record[37] = (uint8_t)(local->ifindex >> 16);
    record[38] = (uint8_t)(local->ifindex >> 8);
    record[39] = (uint8_t)local->ifindex;
  }
  if (address->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
    record[0] = 4;
    memcpy(record + 2, &v4->sin_port, 2);
    memcpy(record + 4, &v4->sin_addr, 4);
  } else if (address->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
    record[0] = 6;
    memcpy(record + 2, &v6->sin6_port, 2);
    memcpy(record + 4, &v6->sin6_addr, 16);
  }
}

/*
 * Receives up to one batch from `sock`. Returns how many messages were received (kept or not);
 * received[i] is message i's length (-1: truncated), segment[i] its UDP_GRO datagram size (0:
 * one datagram), base[i] where it starts in the buffer, locals[i] the address it was sent to.
 */
static int receive_batch(udp_bind *bind, udp_socket *sock, int *received, int *segment, size_t *base,
                         local_source *locals) {
  io_batch *b = &bind->batch;
  uint32_t messages = b->capacity;
  size_t room = b->packet_capacity + b->tailroom;
  int in_regions = 0, n = 0;
#ifdef __linux__
  if (sock->gro) {
    size_t regions = b->data_len / GRO_REGION;
    uint32_t wanted = b->entries / GRO_MAX_SEGMENTS;
    if (regions < wanted) wanted = (uint32_t)regions;
    if (wanted > 0) { /* else a buffer too small for regions: plain slots */
      messages = wanted;
      room = GRO_REGION;
      in_regions = 1;
    }
  }
#endif
  for (uint32_t i = 0; i < messages; i++) {
    base[i] = in_regions ? (size_t)i * room : (size_t)i * b->slot_size + b->headroom;
    bind->iovecs[i].iov_base = b->data + base[i];
    bind->iovecs[i].iov_len = room;
    segment[i] = 0;
    locals[i].family = 0;
  }
#ifdef __linux__
  for (uint32_t i = 0; i < messages; i++) {
    struct msghdr *h = &bind->messages[i].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &bind->addresses[i];
    h->msg_namelen = sizeof bind->addresses[i];
    h->msg_iov = &bind->iovecs[i];
    h->msg_iovlen = 1;
    h->msg_control = bind->controls + (size_t)i * RECEIVE_CONTROL_BYTES;
    h->msg_controllen = RECEIVE_CONTROL_BYTES;
  }
  do n = recvmmsg(sock->fd, bind->messages, messages, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return 0;
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &bind->messages[i].msg_hdr;
    received[i] = (h->msg_flags & MSG_TRUNC) ? -1 : (int)bind->messages[i].msg_len;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
      if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO && cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int size;
        memcpy(&size, CMSG_DATA(cm), sizeof size);
        segment[i] = size > 0 ? size : 0;
      } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
                 cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
        struct in_pktinfo info;
        memcpy(&info, CMSG_DATA(cm), sizeof info);
        memset(locals[i].address, 0, 16);
        memcpy(locals[i].address, &info.ipi_spec_dst, 4);
        locals[i].ifindex = (uint32_t)info.ipi_ifindex;
        locals[i].family = 4;
      } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
                 cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
        struct in6_pktinfo info;
        memcpy(&info, CMSG_DATA(cm), sizeof info);
        memcpy(locals[i].address, &info.ipi6_addr, 16);
        locals[i].ifindex = info.ipi6_ifindex;
        locals[i].family = 6;
      }
    }
  }
#else
  for (uint32_t i = 0; i < messages; i++) {
    struct msghdr h;
    ssize_t len;
    memset(&h, 0, sizeof h);
    h.msg_name = &bind->addresses[i];
    h.msg_namelen = sizeof bind->addresses[i];
    h.msg_iov = &bind->iovecs[i];
    h.msg_iovlen = 1;
    do len = recvmsg(sock->fd, &h, MSG_DONTWAIT);
    while (len < 0 && errno == EINTR);
    if (len < 0) break;
    received[n++] = (h.msg_flags & MSG_TRUNC) ? -1 : (int)len;
  }
#endif
  return n;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  udp_socket *sock = (udp_socket *)handle->data;
  udp_bind *bind = sock->owner;
  io_batch *b = &bind->batch;
  int received[1024], segment[1024];
  size_t base[1024];
  local_source locals[1024];
  uint32_t kept = 0;
  int n;
  napi_handle_scope scope;

  if (status < 0) {
    /* A pending socket error (POLLERR); libuv stopped the watcher. Clear it and carry on. */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(sock->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (uv_poll_start(&sock->poll, UV_READABLE, on_readable) != 0) sock->polling = 0;
    return;
  }
  n = receive_batch(bind, sock, received, segment, base, locals);
  for (int i = 0; i < n; i++) {
    size_t length, size, at;
    if (received[i] < 0) {
      bind->stats.oversized++;
      continue;
    }
    length = (size_t)received[i];
    /* One datagram, or the datagrams of a GRO message, each `size` bytes but maybe the last. */
    size = segment[i] > 0 && (size_t)segment[i] < length ? (size_t)segment[i] : length;
    if (size < length) bind->stats.coalesced += (double)((length + size - 1) / size);
    for (at = 0; at < length || (length == 0 && at == 0); at += size) {
      size_t one = length - at < size ? length - at : size;
      if (one > b->packet_capacity || kept >= b->entries) {
        bind->stats.oversized++;
      } else {
        /* The datagrams stay where the kernel put them; offsets say where, in order. */
        b->offsets[kept] = (int32_t)(base[i] + at);
        b->lengths[kept] = (int32_t)one;
        write_source(b->sources + (size_t)kept * SOURCE_RECORD_BYTES, &bind->addresses[i], &locals[i]);
        kept++;
      }
      if (size == 0) break;
    }
  }
  if (kept == 0) return;
  io_stats_count_batch(&bind->stats, kept);
  napi_open_handle_scope(bind->env, &scope);
  {
    double args[2] = {kept, 0};
    bind->delivering = 1;
    io_callback_call(&bind->on_event, 2, args);
    bind->delivering = 0;
  }
  if (!bind->open) release_js(bind);
  napi_close_handle_scope(bind->env, scope);
}

static void finalize_bind(napi_env env, void *data, void *hint) {
  udp_bind *bind = (udp_bind *)data;
  bind->finalized = 1;
  close_bind(bind);
  maybe_free(bind);
}

static udp_bind *unwrap_open(napi_env env, napi_value value) {
  udp_bind *bind = (udp_bind *)io_unwrap(env, value, &udp_tag);
  if (bind != NULL && !bind->open) {
    io_throw(env, "ERR_UDP_CLOSED", "the UDP sockets are closed");
    return NULL;
  }
  return bind;
}

/* udpOpen(port, mark) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value args[2];
  uint32_t port, mark;
  udp_bind *bind;
  int err, failed_family = 0;
  if (!io_args(env, info, 2, args, NULL) || !io_get_u32(env, args[0], &port) ||
      !io_get_u32(env, args[1], &mark))
    return NULL;
  IO_CHECK_ARG(env, port <= 65535, "udpOpen: the port must be 0 to 65535");
  bind = (udp_bind *)calloc(1, sizeof *bind);
  if (bind == NULL) return NULL;
  bind->env = env;
  bind->mark = mark;
  for (int i = 0; i < 2; i++) {
    bind->sockets[i].fd = -1;
    bind->sockets[i].family = i == 0 ? 4 : 6;
    bind->sockets[i].owner = bind;
#ifdef __linux__
    bind->sockets[i].gso_limit = 65536; /* until the kernel says otherwise, see send_datagrams */
#endif
  }
  if ((err = open_pair(bind, (uint16_t)port, &failed_family)) < 0) {
    char what[160];
    free(bind);
    if (err == -EADDRINUSE)
      snprintf(what, sizeof what, "UDP port %u is already in use (IPv%d); choose another listen port",
               port, failed_family);
    else if (err == -EACCES && port < 1024)
      snprintf(what, sizeof what, "UDP port %u needs privileges to bind (IPv%d)", port, failed_family);
    else if (err == -EPERM)
      snprintf(what, sizeof what, "cannot set the socket mark %u (needs CAP_NET_ADMIN)", mark);
    else
      snprintf(what, sizeof what, "cannot open the UDP socket on port %u (IPv%d)", port, failed_family);
    io_throw_errno(env, -err, what);
    return NULL;
  }
  bind->open = 1;
  return io_wrap(env, bind, &udp_tag, finalize_bind);
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  napi_value args[1];
  udp_bind *bind;
  if (!io_args(env, info, 1, args, NULL) || (bind = io_unwrap(env, args[0], &udp_tag)) == NULL) return NULL;
  return io_number(env, bind->port);
}

/* udpFamilies(handle) -> bit 1: IPv4 socket open, bit 2: IPv6 socket open. */
static napi_value js_families(napi_env env, napi_callback_info info) {
  napi_value args[1];
  udp_bind *bind;
  if (!io_args(env, info, 1, args, NULL) || (bind = io_unwrap(env, args[0], &udp_tag)) == NULL) return NULL;
  return io_number(env, (bind->sockets[0].fd >= 0 ? 1 : 0) | (bind->sockets[1].fd >= 0 ? 2 : 0));
}

static napi_value js_set_mark(napi_env env, napi_callback_info info) {
  napi_value args[2];
  udp_bind *bind;
  uint32_t mark;
  if (!io_args(env, info, 2, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL ||
      !io_get_u32(env, args[1], &mark))
    return NULL;
  for (int i = 0; i < 2; i++) {
    int err;
    if (bind->sockets[i].fd < 0) continue;
    if ((err = apply_mark(bind->sockets[i].fd, mark)) < 0) {
      io_throw_errno(env, -err, "cannot set the socket mark (fwmark needs CAP_NET_ADMIN)");
      return NULL;
    }
  }
  bind->mark = mark;
  return io_undefined(env);
}

/* udpGetMark(handle, family) -> the SO_MARK the kernel holds for that socket (0 where unsupported). */
static napi_value js_get_mark(napi_env env, napi_callback_info info) {
  napi_value args[2];
  udp_bind *bind;
  uint32_t family, mark = 0;
  if (!io_args(env, info, 2, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL ||
      !io_get_u32(env, args[1], &family))
    return NULL;
#ifdef SO_MARK
  {
    udp_socket *sock = &bind->sockets[family == 6 ? 1 : 0];
    socklen_t len = sizeof mark;
    if (sock->fd >= 0 && getsockopt(sock->fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0) {
      io_throw_errno(env, errno, "cannot read the socket mark");
      return NULL;
    }
  }
#endif
  return io_number(env, mark);
}

/*
 * udpStart(handle, buffer, offsets, lengths, slotSize, headroom, packetCapacity, sources,
 *          onEvent(count, errno)). Calling it again swaps in new buffers and callback.
 */
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value args[9];
  udp_bind *bind;
  io_batch batch;
  io_callback cb;
  uint8_t *sources;
  size_t sources_len;
  uv_loop_t *loop;
  if (!io_args(env, info, 9, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL) return NULL;
  if (bind->delivering) {
    io_throw(env, "ERR_UDP_BUSY", "udpStart cannot be called from inside the datagram callback");
    return NULL;
  }
  if (io_batch_init(env, &batch, args + 1) != 0) return NULL;
  if (io_get_bytes(env, args[7], &sources, &sources_len) != 0) {
    io_batch_release(env, &batch);
    return NULL;
  }
  if (batch.entries > 1024 || sources_len < (size_t)batch.entries * SOURCE_RECORD_BYTES) {
    io_batch_release(env, &batch);
    napi_throw_range_error(env, NULL, "udpStart: at most 1024 slots, and one sender record of sources (sourceRecordBytes) per slot");
    return NULL;
  }
  if (io_callback_init(env, &cb, args[8], "wirelane:udp") != 0) {
    io_batch_release(env, &batch);
    return NULL;
  }
  release_js(bind);
  bind->batch = batch;
  bind->batch.sources = sources;
  napi_create_reference(env, args[7], 1, &bind->batch.refs[3]);
  bind->on_event = cb;
#ifdef __linux__
  bind->messages = calloc(batch.capacity, sizeof *bind->messages);
#endif
  bind->iovecs = calloc(batch.capacity, sizeof *bind->iovecs);
  bind->addresses = calloc(batch.capacity, sizeof *bind->addresses);
  bind->controls = calloc(batch.capacity, RECEIVE_CONTROL_BYTES);
  napi_get_uv_event_loop(env, &loop);
  for (int i = 0; i < 2; i++) {
    udp_socket *sock = &bind->sockets[i];
    int err;
    if (sock->fd < 0) continue;
    if (!sock->poll_open) {
      if ((err = uv_poll_init(loop, &sock->poll, sock->fd)) != 0) {
        io_throw(env, uv_err_name(err), "cannot watch the UDP socket on the event loop");
        return NULL;
      }
      sock->poll.data = sock;
      sock->poll_open = 1;
    }
    if (!sock->polling) {
      if ((err = uv_poll_start(&sock->poll, UV_READABLE, on_readable)) != 0) {
        io_throw(env, uv_err_name(err), "cannot watch the UDP socket on the event loop");
        return NULL;
      }
      sock->polling = 1;
    }
  }
  return io_undefined(env);
}

/*
 * Sends `count` datagrams (located by offsets/lengths in `data`) to one address, never
 * blocking; returns how many the kernel took. Malformed entries and datagrams the OS refuses
 * are dropped and counted.
 *
 * On Linux consecutive datagrams of one size (the last of a run may be shorter) leave as one
 * UDP GSO message (UDP_SEGMENT): the kernel walks its UDP/IP/route/netfilter/device path once
 * per run instead of once per datagram and cuts the run into the same datagrams on the way
 * out (or, on a veth, where the receiving socket takes them). A bulk transfer's data messages
 * are all one size, so a batch read from the TUN goes out in a few such messages; that path
 * was most of the engine's send time in profiles. If the kernel or the route cannot do it
 * (EIO: no checksum offload on the device; EINVAL: a segment larger than the path MTU), the
 * run is sent datagram by datagram, and the socket stops grouping that size (or at all).
 */
static uint32_t send_datagrams(udp_bind *bind, udp_socket *sock, const struct sockaddr_storage *to,
                               socklen_t to_len, uint8_t *data, size_t data_len, const int32_t *offsets,
                               const int32_t *lengths, uint32_t count, const local_source *source,
                               int *source_refused) {
  struct iovec iov[SEND_CHUNK];
  uint32_t sent = 0;
#ifdef __linux__
  struct mmsghdr messages[SEND_CHUNK];
  uint32_t per_message[SEND_CHUNK]; /* datagrams in each message */
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control[SEND_CHUNK];
  int with_source = source != NULL && source->family != 0;
#else
  (void)source;
  (void)source_refused;
#endif
  for (uint32_t start = 0; start < count;) {
    uint32_t chunk = 0;
    /* Gather the next chunk of valid datagrams; malformed entries are dropped. */
    while (start < count && chunk < SEND_CHUNK) {
      int32_t offset = offsets[start], length = lengths[start];
      if (offset < 0 || length < 0 || (size_t)offset + (size_t)length > data_len) {
        bind->stats.write_dropped++;
      } else {
        iov[chunk].iov_base = data + offset;
        iov[chunk].iov_len = (size_t)length;
        chunk++;
      }
      start++;
    }
#ifdef __linux__
    uint32_t first = 0; /* first datagram of the chunk not yet sent or dropped */
  regroup:;
    uint32_t message_count = 0;
    for (uint32_t i = first; i < chunk;) {
      size_t segment = iov[i].iov_len, total = segment;
      uint32_t n = 1;
      struct msghdr *h = &messages[message_count].msg_hdr;
      if (segment > 0 && sock->gso_limit > segment) {
        while (i + n < chunk && n < GSO_MAX_SEGMENTS && iov[i + n].iov_len <= segment &&
               total + iov[i + n].iov_len <= GSO_MAX_BYTES) {
          total += iov[i + n].iov_len;
          n++;
          if (iov[i + n - 1].iov_len < segment) break; /* only the last may be shorter */
        }
      }
      memset(h, 0, sizeof *h);
      h->msg_name = (void *)to;
      h->msg_namelen = to_len;
      h->msg_iov = &iov[i];
      h->msg_iovlen = n;
      if (n > 1 || with_source) {
        struct cmsghdr *cm;
        size_t used = 0;
        memset(control[message_count].buf, 0, sizeof control[message_count].buf);
        h->msg_control = control[message_count].buf;
        h->msg_controllen = sizeof control[message_count].buf;
        cm = CMSG_FIRSTHDR(h);
        if (n > 1) {
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          *(uint16_t *)(void *)CMSG_DATA(cm) = (uint16_t)segment;
          used += CMSG_SPACE(sizeof(uint16_t));
          cm = (struct cmsghdr *)(void *)(control[message_count].buf + used);
        }
        if (with_source && sock->family == 4) {
          struct in_pktinfo info;
          memset(&info, 0, sizeof info);
          memcpy(&info.ipi_spec_dst, source->address, 4); /* the source; routing picks the interface */
          cm->cmsg_level = IPPROTO_IP;
          cm->cmsg_type = IP_PKTINFO;
          cm->cmsg_len = CMSG_LEN(sizeof info);
          memcpy(CMSG_DATA(cm), &info, sizeof info);
          used += CMSG_SPACE(sizeof info);
        } else if (with_source) {
          struct in6_pktinfo info;
          memset(&info, 0, sizeof info);
          memcpy(&info.ipi6_addr, source->address, 16);
          /* A link-local source is only meaningful on its own interface. */
          if (source->address[0] == 0xfe && (source->address[1] & 0xc0) == 0x80) info.ipi6_ifindex = source->ifindex;
          cm->cmsg_level = IPPROTO_IPV6;
          cm->cmsg_type = IPV6_PKTINFO;
          cm->cmsg_len = CMSG_LEN(sizeof info);
          memcpy(CMSG_DATA(cm), &info, sizeof info);
          used += CMSG_SPACE(sizeof info);
        }
        h->msg_controllen = used;
      }
      per_message[message_count++] = n;
      i += n;
    }
    for (uint32_t done = 0; done < message_count;) {
      int n;
      do n = sendmmsg(sock->fd, messages + done, message_count - done, MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n > 0) {
        for (int k = 0; k < n; k++) {
          sent += per_message[done + k];
          first += per_message[done + k];
        }
        done += (uint32_t)n;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        /* The socket buffer is full: never block, drop the rest. */
        bind->stats.write_dropped += (chunk - first) + (count - start);
        return sent;
      }
      if (with_source && (errno == EINVAL || errno == EADDRNOTAVAIL || errno == ENETUNREACH)) {
        /* The sticky source is no longer ours (or not routable): send without it, as the kernel does. */
        with_source = 0;
        *source_refused = 1;
        goto regroup;
      }
      if (per_message[done] > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
        /* The run could not go as one GSO message: stop grouping (this size, or at all). */
        sock->gso_limit = errno == EINVAL ? iov[first].iov_len : 0;
        goto regroup;
      }
      /* This datagram was refused (unreachable, too big...): drop it and go on. */
      bind->stats.write_dropped += per_message[done];
      first += per_message[done];
      done++;
    }
#else
    for (uint32_t done = 0; done < chunk;) {
      ssize_t one;
      do one = sendto(sock->fd, iov[done].iov_base, iov[done].iov_len, MSG_DONTWAIT, (const struct sockaddr *)to, to_len);
      while (one < 0 && errno == EINTR);
      if (one >= 0) {
        sent++;
        done++;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        bind->stats.write_dropped += (chunk - done) + (count - start);
        return sent;
      }
      bind->stats.write_dropped++;
      done++;
    }
#endif
  }
  return sent;
}

/*
 * udpSend(handle, buffer, offsets, lengths, count, family, addressBytes, port[, sourceBytes,
 * sourceIfindex]) -> datagrams sent, or -(sent + 1) when the source was refused and they went
 * without it. sourceBytes is the local address (4 or 16 bytes, the family's) or empty for none.
 */
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value args[10];
  size_t argc = 10; /* eight required, then the optional source and its interface */
  local_source source;
  int source_refused = 0;
  udp_bind *bind;
  uint8_t *data, *address_bytes;
  size_t data_len, offsets_count, lengths_count, address_len;
  int32_t *offsets, *lengths;
  uint32_t count, family, port, sent = 0;
  struct sockaddr_storage to;
  socklen_t to_len;
  udp_socket *sock;
  if (!io_args(env, info, 8, args, NULL) || napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok) return NULL;
  if ((bind = unwrap_open(env, args[0])) == NULL) return NULL;
  memset(&source, 0, sizeof source);
  if (argc >= 10) {
    uint8_t *source_bytes;
    size_t source_len;
    uint32_t ifindex;
    if (io_get_bytes(env, args[8], &source_bytes, &source_len) != 0 || !io_get_u32(env, args[9], &ifindex)) return NULL;
    if (source_len == 4 || source_len == 16) {
      source.family = source_len == 4 ? 4 : 6;
      memcpy(source.address, source_bytes, source_len);
      source.ifindex = ifindex;
    } else {
      IO_CHECK_ARG(env, source_len == 0, "udpSend: the source must be 4 or 16 bytes, or empty");
    }
  }
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 ||
      io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || !io_get_u32(env, args[4], &count) ||
      !io_get_u32(env, args[5], &family) || io_get_bytes(env, args[6], &address_bytes, &address_len) != 0 ||
      !io_get_u32(env, args[7], &port))
    return NULL;
  IO_CHECK_ARG(env, count <= offsets_count && count <= lengths_count, "udpSend: count exceeds the offsets or lengths");
  IO_CHECK_ARG(env, (family == 4 && address_len == 4) || (family == 6 && address_len == 16),
               "udpSend: the address must be 4 bytes for IPv4 or 16 for IPv6");
  IO_CHECK_ARG(env, port > 0 && port <= 65535, "udpSend: the port must be 1 to 65535");
  memset(&to, 0, sizeof to);
  if (family == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&to;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    memcpy(&v4->sin_addr, address_bytes, 4);
    to_len = sizeof *v4;
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&to;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    memcpy(&v6->sin6_addr, address_bytes, 16);
    to_len = sizeof *v6;
  }
  sock = &bind->sockets[family == 6 ? 1 : 0];
  if (sock->fd < 0) {
    bind->stats.write_dropped += count;
    return io_number(env, 0);
  }

  IO_CHECK_ARG(env, source.family == 0 || source.family == family, "udpSend: the source must be of the destination's family");
  sent = send_datagrams(bind, sock, &to, to_len, data, data_len, offsets, lengths, count, &source, &source_refused);
  return io_number(env, source_refused ? -(double)sent - 1 : sent);
}

/* The destination part of a sender record: family, flag, port, address (the local half is not used to send here). */
#define DESTINATION_BYTES 20
/* Destinations udpSendEach groups at once; datagrams to any further ones go one by one. */
#define SEND_EACH_GROUPS 16

/* Fills `to` from a record's destination; returns its length, or 0 for a record of no family. */
static socklen_t record_address(const uint8_t *r, struct sockaddr_storage *to) {
  memset(to, 0, sizeof *to);
  if (r[0] == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)to;
    v4->sin_family = AF_INET;
    memcpy(&v4->sin_port, r + 2, 2);
    memcpy(&v4->sin_addr, r + 4, 4);
    return sizeof *v4;
  }
  if (r[0] == 6) {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)to;
    v6->sin6_family = AF_INET6;
    memcpy(&v6->sin6_port, r + 2, 2);
    memcpy(&v6->sin6_addr, r + 4, 16);
    return sizeof *v6;
  }
  return 0;
}

/*
 * udpSendEach(handle, buffer, offsets, lengths, count, destinations) -> datagrams sent.
 * Datagram i goes to the sender record i (SOURCE_RECORD_BYTES) of `destinations` (the layout of
 * `sources`), so answers to many senders - cookie replies under a handshake flood - leave in one
 * call. Datagrams to the same destination (a flood comes from few senders, each sending many)
 * are gathered and sent as one run through send_datagrams, so equal-size ones (every cookie
 * reply is 64 bytes) become one UDP GSO message: the kernel's send path once per run instead of
 * once per reply, which was a third of the engine's time under a flood. The order of datagrams
 * to one destination is kept; across destinations it is not (nothing depends on it). The rest,
 * and datagrams past the first SEND_EACH_GROUPS destinations, leave in one sendmmsg per family.
 * What the OS refuses is dropped, never waited for.
 */
static napi_value js_send_each(napi_env env, napi_callback_info info) {
  napi_value args[6];
  udp_bind *bind;
  uint8_t *data, *records;
  size_t data_len, offsets_count, lengths_count, records_len;
  int32_t *offsets, *lengths;
  uint32_t count, sent = 0;
  struct sockaddr_storage to[SEND_CHUNK];
  struct iovec iov[SEND_CHUNK];
  if (!io_args(env, info, 6, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 || io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || !io_get_u32(env, args[4], &count) ||
      io_get_bytes(env, args[5], &records, &records_len) != 0)
    return NULL;
  IO_CHECK_ARG(env, count <= offsets_count && count <= lengths_count && (size_t)count * SOURCE_RECORD_BYTES <= records_len,
               "udpSendEach: count exceeds the offsets, lengths or destinations");
  if (count == 0) return io_number(env, 0);
  /* order[] lists the datagrams group by group (first-seen destination first), then the loners. */
  uint32_t *order = malloc((size_t)count * sizeof *order);
  uint8_t *group_of = malloc(count);
  int32_t *run_offsets = malloc((size_t)count * sizeof *run_offsets);
  int32_t *run_lengths = malloc((size_t)count * sizeof *run_lengths);
  if (order == NULL || group_of == NULL || run_offsets == NULL || run_lengths == NULL) {
    free(order);
    free(group_of);
    free(run_offsets);
    free(run_lengths);
    io_throw(env, "ENOMEM", "udpSendEach: out of memory");
    return NULL;
  }
  const uint8_t *group_key[SEND_EACH_GROUPS];
  uint32_t group_size[SEND_EACH_GROUPS + 1], group_start[SEND_EACH_GROUPS + 1];
  uint32_t groups = 0;
  memset(group_size, 0, sizeof group_size);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *r = records + (size_t)i * SOURCE_RECORD_BYTES;
    uint32_t g = 0;
    while (g < groups && memcmp(group_key[g], r, DESTINATION_BYTES) != 0) g++;
    if (g == groups) {
      if (groups < SEND_EACH_GROUPS) group_key[groups++] = r;
      else g = SEND_EACH_GROUPS; /* a loner */
    }
    group_of[i] = (uint8_t)g;
    group_size[g]++;
  }
  for (uint32_t g = 0, at = 0; g <= SEND_EACH_GROUPS; g++) {
    group_start[g] = at;
    at += group_size[g];
  }
  for (uint32_t i = 0; i < count; i++) order[group_start[group_of[i]]++] = i;
  for (uint32_t g = 0, at = 0; g <= SEND_EACH_GROUPS; g++) {
    group_start[g] = at; /* back to where each group begins */
    at += group_size[g];
  }

  uint32_t loners_from = count - group_size[SEND_EACH_GROUPS];
#ifdef __linux__
  /* Groups of two or more: one send_datagrams each (GSO runs). Singles join the loners below. */
  uint32_t singles = 0;
  for (uint32_t g = 0; g < groups; g++) {
    uint32_t first = group_start[g], n = group_size[g];
    const uint8_t *r = group_key[g];
    struct sockaddr_storage dest;
    socklen_t dest_len = record_address(r, &dest);
    udp_socket *sock = &bind->sockets[r[0] == 6 ? 1 : 0];
    if (n < 2) {
      singles++;
      continue;
    }
    if (dest_len == 0 || sock->fd < 0) {
      bind->stats.write_dropped += n;
      continue;
    }
    for (uint32_t k = 0; k < n; k++) {
      run_offsets[k] = offsets[order[first + k]];
      run_lengths[k] = lengths[order[first + k]];
    }
    int refused = 0;
    sent += send_datagrams(bind, sock, &dest, dest_len, data, data_len, run_offsets, run_lengths, n, NULL, &refused);
  }
  /* Move the singles' indices next to the loners, so one list remains to send one by one. */
  if (singles > 0) {
    uint32_t at = loners_from;
    for (uint32_t g = groups; g-- > 0;) {
      if (group_size[g] == 1) order[--at] = order[group_start[g]];
    }
    loners_from = at;
  }
#else
  loners_from = 0; /* no GSO: everything one by one */
#endif

  for (uint32_t p = loners_from; p < count;) {
    /* A run of datagrams to one family (one socket), at most SEND_CHUNK long. */
    uint8_t family = records[(size_t)order[p] * SOURCE_RECORD_BYTES];
    udp_socket *sock = &bind->sockets[family == 6 ? 1 : 0];
    uint32_t n = 0;
    while (p < count && n < SEND_CHUNK && records[(size_t)order[p] * SOURCE_RECORD_BYTES] == family) {
      uint32_t i = order[p++];
      int32_t offset = offsets[i], length = lengths[i];
      if (record_address(records + (size_t)i * SOURCE_RECORD_BYTES, &to[n]) == 0 || offset < 0 || length < 0 ||
          (size_t)offset + (size_t)length > data_len) {
        bind->stats.write_dropped++;
        continue;
      }
      iov[n].iov_base = data + offset;
      iov[n].iov_len = (size_t)length;
      n++;
    }
    if (n == 0) continue;
    if (sock->fd < 0) {
      bind->stats.write_dropped += n;
      continue;
    }
#ifdef __linux__
    struct mmsghdr messages[SEND_CHUNK];
    for (uint32_t i = 0; i < n; i++) {
      memset(&messages[i], 0, sizeof messages[i]);
      messages[i].msg_hdr.msg_name = &to[i];
      messages[i].msg_hdr.msg_namelen = to[i].ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    for (uint32_t done = 0; done < n;) {
      int k;
      do k = sendmmsg(sock->fd, messages + done, n - done, MSG_DONTWAIT);
      while (k < 0 && errno == EINTR);
      if (k > 0) {
        sent += (uint32_t)k;
        done += (uint32_t)k;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        bind->stats.write_dropped += n - done; /* buffer full: drop this run, never block */
        break;
      } else {
        bind->stats.write_dropped++; /* this one refused: skip it */
        done++;
      }
    }
#else
    for (uint32_t i = 0; i < n; i++) {
      socklen_t len = to[i].ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
      ssize_t one;
      do one = sendto(sock->fd, iov[i].iov_base, iov[i].iov_len, MSG_DONTWAIT, (const struct sockaddr *)&to[i], len);
      while (one < 0 && errno == EINTR);
      if (one >= 0) sent++;
      else bind->stats.write_dropped++;
    }
#endif
  }
  free(order);
  free(group_of);
  free(run_offsets);
  free(run_lengths);
  return io_number(env, sent);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value args[1];
  udp_bind *bind;
  if (!io_args(env, info, 1, args, NULL) || (bind = io_unwrap(env, args[0], &udp_tag)) == NULL) return NULL;
  close_bind(bind);
  return io_undefined(env);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  udp_bind *bind;
  if (!io_args(env, info, 1, args, NULL) || (bind = io_unwrap(env, args[0], &udp_tag)) == NULL) return NULL;
  return io_stats_object(env, &bind->stats);
}

void io_register_udp(napi_env env, napi_value exports) {
  io_export(env, exports, "udpOpen", js_open);
  io_export(env, exports, "udpPort", js_port);
  io_export(env, exports, "udpFamilies", js_families);
  io_export(env, exports, "udpSetMark", js_set_mark);
  io_export(env, exports, "udpGetMark", js_get_mark);
  io_export(env, exports, "udpStart", js_start);
  io_export(env, exports, "udpSend", js_send);
  io_export(env, exports, "udpSendEach", js_send_each);
  io_export(env, exports, "udpClose", js_close);
  io_export(env, exports, "udpStats", js_stats);
}

#endif
