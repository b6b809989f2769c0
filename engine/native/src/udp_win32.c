/*
 * The UDP underlay on Windows (Winsock 2), with the same JavaScript-facing functions as
 * udp_posix.c so engine/conn/udp-bind.ts runs unchanged: one IPv4 and one IPv6 socket
 * (IPV6_V6ONLY) bound to the same port, non-blocking, with large buffers, watched on the main
 * event loop.
 *
 * Readiness: libuv's uv_poll_t accepts Winsock sockets (uv_poll_init_socket). It asks the AFD
 * driver for readiness (IOCTL_AFD_POLL) on the loop's completion port, falling back to a
 * select() thread when a layered service provider hides the base socket. A poll request is
 * re-armed after each callback and completes at once while data is queued, so reading one batch
 * per callback and returning (as udp_posix.c does) loses nothing.
 *
 * Receive: Windows has no recvmmsg; we loop recvfrom() until WSAEWOULDBLOCK or a full batch,
 * straight into the JS slot buffer, and write each sender into the same record of `sources` as
 * udp_posix.c (SOURCE_RECORD_BYTES, io.h) with no local address: [family 4|6][0][port,
 * big-endian][address, 16 bytes, IPv4 first 4], zeros after (no sticky source on Windows).
 * A datagram larger than its slot fails with WSAEMSGSIZE (Winsock discards the rest of it): it
 * is dropped and counted as oversized.
 *
 * Send: no sendmmsg either (WSASendTo with several buffers gathers them into ONE datagram), so
 * one sendto() per datagram; a full send buffer (WSAEWOULDBLOCK, WSAENOBUFS) drops the rest of
 * the call rather than blocking, as on Linux.
 *
 * ICMP: by default a port-unreachable answer to something we sent makes the next recvfrom() fail
 * with WSAECONNRESET - on an unconnected socket shared by every peer. Like Go's net package (and
 * so wireguard-go), we turn that off with SIO_UDP_CONNRESET / SIO_UDP_NETRESET, and skip those
 * errors anyway should a provider ignore the ioctl.
 *
 * Marks: Windows has no SO_MARK, and wireguard-go ignores fwmark there too: udpSetMark only
 * records the value and udpGetMark reports 0 (no mark in the kernel). Routing loops on Windows
 * are avoided by the OS layer (engine/os/win32.ts) with routes, not marks.
 *
 * Port hijacking: both sockets set SO_EXCLUSIVEADDRUSE before bind, so no other process (even
 * one using SO_REUSEADDR) can bind our port and take the tunnel's datagrams.
 *
 * Errors thrown to JS carry the POSIX names udp_posix.c uses (EADDRINUSE, EACCES...) where one
 * fits, so callers need not know the platform; others carry "WIN<code>".
 */
#ifdef _WIN32

#include "io.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif
#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif
#ifndef WSA_FLAG_NO_HANDLE_INHERIT
#define WSA_FLAG_NO_HANDLE_INHERIT 0x80
#endif

/* wireguard-go asks for 7 MiB socket buffers; throughput suffers badly with the defaults. */
#define SOCKET_BUFFER_BYTES (7 << 20)
#define PORT_ATTEMPTS 100

struct udp_bind;

typedef struct udp_socket {
  SOCKET s;             /* INVALID_SOCKET when that family is unavailable or closed */
  SOCKET closing;       /* closed once libuv has released the poll handle */
  int family;           /* 4 or 6 */
  uv_poll_t poll;
  int poll_open;
  int polling;
  struct udp_bind *owner;
} udp_socket;

typedef struct udp_bind {
  udp_socket sockets[2]; /* [0] IPv4, [1] IPv6 */
  uint16_t port;
  uint32_t mark; /* recorded only; see the header */
  int open;
  int delivering;
  int finalized;
  io_batch batch;
  io_callback on_event;
  io_stats stats;
  napi_env env;
  struct sockaddr_storage *addresses;
} udp_bind;

/* The same tag as udp_posix.c: a handle is a handle of this addon's UDP part on any platform. */
static const napi_type_tag udp_tag = {0x7769726c616e6575ULL, 0x647062696e640001ULL};

static int winsock_started;

/* libuv starts Winsock for itself; our own WSAStartup keeps it counted for us as well. */
static int ensure_winsock(void) {
  WSADATA data;
  int err;
  if (winsock_started) return 0;
  if ((err = WSAStartup(MAKEWORD(2, 2), &data)) != 0) return err;
  winsock_started = 1;
  return 0;
}

/* The POSIX name for the Winsock errors a caller may act on; NULL for the rest. */
static const char *posix_name(int err) {
  switch (err) {
    case WSAEADDRINUSE: return "EADDRINUSE";
    case WSAEACCES: return "EACCES";
    case WSAEADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case WSAEAFNOSUPPORT: return "EAFNOSUPPORT";
    case WSAEPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case WSAENOBUFS: return "ENOBUFS";
    case WSAEMFILE: return "EMFILE";
    case WSAENETDOWN: return "ENETDOWN";
    default: return NULL;
  }
}

static void throw_wsa(napi_env env, int err, const char *what) {
  const char *name = posix_name(err);
  char text[256] = "", message[512];
  size_t len;
  if (name == NULL) {
    io_throw_errno(env, err, what); /* "WIN<code>" with the system's text */
    return;
  }
  FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)err, 0, text,
                 sizeof text, NULL);
  len = strlen(text);
  while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == '\n' || text[len - 1] == '.')) text[--len] = '\0';
  snprintf(message, sizeof message, "%s: %s (Windows error %d)", what, text, err);
  io_throw(env, name, message);
}

static void release_js(udp_bind *bind) {
  io_batch_release(bind->env, &bind->batch);
  io_callback_release(&bind->on_event);
  free(bind->addresses);
  bind->addresses = NULL;
}

static void maybe_free(udp_bind *bind) {
  if (bind->finalized && !bind->sockets[0].poll_open && !bind->sockets[1].poll_open) free(bind);
}

static void on_poll_closed(uv_handle_t *handle) {
  udp_socket *sock = (udp_socket *)handle->data;
  /* libuv's docs: never close a socket an active poll handle watches; now it watches none. */
  if (sock->closing != INVALID_SOCKET) {
    closesocket(sock->closing);
    sock->closing = INVALID_SOCKET;
  }
  sock->poll_open = 0;
  maybe_free(sock->owner);
}

static void close_socket(udp_socket *sock) {
  if (sock->polling) {
    uv_poll_stop(&sock->poll);
    sock->polling = 0;
  }
  if (sock->s == INVALID_SOCKET) return;
  if (sock->poll_open) {
    sock->closing = sock->s;
    if (!uv_is_closing((uv_handle_t *)&sock->poll)) uv_close((uv_handle_t *)&sock->poll, on_poll_closed);
  } else {
    closesocket(sock->s);
  }
  sock->s = INVALID_SOCKET;
}

static void close_bind(udp_bind *bind) {
  close_socket(&bind->sockets[0]);
  close_socket(&bind->sockets[1]);
  bind->open = 0;
  bind->port = 0;
  if (!bind->delivering) release_js(bind);
}

static void set_buffer_sizes(SOCKET s) {
  int size = SOCKET_BUFFER_BYTES;
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&size, sizeof size);
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&size, sizeof size);
}

/* Stops ICMP unreachable answers from failing later receives on this socket (see the header). */
static void ignore_icmp_resets(SOCKET s) {
  BOOL off = FALSE;
  DWORD returned = 0;
  WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &returned, NULL, NULL);
  WSAIoctl(s, SIO_UDP_NETRESET, &off, sizeof off, NULL, 0, &returned, NULL, NULL);
}

/* Opens and binds one socket; returns 0 and the socket in *out, or a WSA error. */
static int open_socket(int family, uint16_t *port, SOCKET *out) {
  SOCKET s;
  int err, length;
  DWORD one = 1;
  u_long nonblocking = 1;
  struct sockaddr_storage address;
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
  s = WSASocketW(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, IPPROTO_UDP, NULL, 0,
                 WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return WSAGetLastError();
  if (ioctlsocket(s, FIONBIO, &nonblocking) != 0) goto fail;
  /* Windows defaults IPV6_V6ONLY to on; set it anyway, the IPv4 socket owns IPv4. */
  if (family == 6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&one, sizeof one) != 0) goto fail;
  if (setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one) != 0) goto fail;
  set_buffer_sizes(s);
  ignore_icmp_resets(s);
  if (bind(s, (struct sockaddr *)&address, length) != 0) goto fail;
  length = sizeof address;
  if (getsockname(s, (struct sockaddr *)&address, &length) != 0) goto fail;
  *port = ntohs(family == 4 ? ((struct sockaddr_in *)&address)->sin_port
                            : ((struct sockaddr_in6 *)&address)->sin6_port);
  *out = s;
  return 0;
fail:
  err = WSAGetLastError();
  closesocket(s);
  return err;
}

static int family_unavailable(int err) {
  return err == WSAEAFNOSUPPORT || err == WSAEPROTONOSUPPORT || err == WSAEADDRNOTAVAIL;
}

/*
 * Binds IPv4 then IPv6 on the same port. With port 0 the IPv6 socket takes the port the IPv4 one
 * got; if that port is taken for IPv6 we start over, as wireguard-go does.
 * Returns 0 or a WSA error, with *failed_family set to the family that failed.
 */
static int open_pair(udp_bind *bind, uint16_t requested, int *failed_family) {
  for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    uint16_t port = requested;
    SOCKET v4 = INVALID_SOCKET, v6 = INVALID_SOCKET;
    int err4 = open_socket(4, &port, &v4), err6;
    if (err4 != 0 && !family_unavailable(err4)) {
      *failed_family = 4;
      return err4;
    }
    err6 = open_socket(6, &port, &v6);
    if (err6 != 0 && !family_unavailable(err6)) {
      if (v4 != INVALID_SOCKET) closesocket(v4);
      if (err6 == WSAEADDRINUSE && requested == 0) continue;
      *failed_family = 6;
      return err6;
    }
    if (err4 != 0 && err6 != 0) {
      *failed_family = 4;
      return err4;
    }
    bind->sockets[0].s = v4;
    bind->sockets[1].s = v6;
    bind->port = port;
    return 0;
  }
  *failed_family = 6;
  return WSAEADDRINUSE;
}

static void write_source(uint8_t *record, const struct sockaddr_storage *address) {
  memset(record, 0, SOURCE_RECORD_BYTES);
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
 * Receives up to one batch from `sock` into slot i for the i-th datagram; received[i] is its
 * length, or -1 when it did not fit. Returns how many slots were used.
 */
static int receive_batch(udp_bind *bind, udp_socket *sock, int *received) {
  io_batch *b = &bind->batch;
  int n = 0;
  /* A slot holds packet_capacity + tailroom bytes; Winsock takes an int length. */
  int room = (int)(b->packet_capacity + b->tailroom);
  /* Bounded even if a provider kept answering with errors we skip. */
  for (uint32_t attempts = 0; (uint32_t)n < b->capacity && attempts < 2 * b->capacity; attempts++) {
    int address_len = sizeof bind->addresses[n];
    char *slot = (char *)b->data + (size_t)n * b->slot_size + b->headroom;
    int len = recvfrom(sock->s, slot, room, 0, (struct sockaddr *)&bind->addresses[n], &address_len);
    if (len != SOCKET_ERROR) {
      received[n++] = len;
      continue;
    }
    switch (WSAGetLastError()) {
      case WSAEMSGSIZE: /* too large for the slot; Winsock dropped the rest of it */
        received[n++] = -1;
        continue;
      case WSAECONNRESET: /* an ICMP answer reported here despite SIO_UDP_CONNRESET */
      case WSAENETRESET:
      case WSAEINTR:
        continue;
      default: /* WSAEWOULDBLOCK: drained; anything else: try again on the next readiness */
        return n;
    }
  }
  return n;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  udp_socket *sock = (udp_socket *)handle->data;
  udp_bind *bind = sock->owner;
  io_batch *b = &bind->batch;
  int received[1024];
  uint32_t kept = 0;
  int n;
  napi_handle_scope scope;

  if (sock->s == INVALID_SOCKET || b->capacity == 0) return;
  if (status < 0) {
    /* A pending socket error; libuv stopped the watcher. Clear it and carry on. */
    int err = 0, len = sizeof err;
    getsockopt(sock->s, SOL_SOCKET, SO_ERROR, (char *)&err, &len);
    if (uv_poll_start(&sock->poll, UV_READABLE, on_readable) != 0) sock->polling = 0;
    return;
  }
  n = receive_batch(bind, sock, received);
  for (int i = 0; i < n; i++) {
    if (received[i] < 0 || (size_t)received[i] > b->packet_capacity) {
      bind->stats.oversized++;
      continue;
    }
    /* Slots stay where they are; the kept datagrams are described in order by offsets. */
    b->offsets[kept] = (int32_t)((size_t)i * b->slot_size + b->headroom);
    b->lengths[kept] = (int32_t)received[i];
    write_source(b->sources + (size_t)kept * SOURCE_RECORD_BYTES, &bind->addresses[i]);
    kept++;
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

/* udpOpen(port, mark) -> handle. The mark is recorded only (no SO_MARK on Windows). */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value args[2];
  uint32_t port, mark;
  udp_bind *bind;
  int err, failed_family = 0;
  if (!io_args(env, info, 2, args, NULL) || !io_get_u32(env, args[0], &port) || !io_get_u32(env, args[1], &mark))
    return NULL;
  IO_CHECK_ARG(env, port <= 65535, "udpOpen: the port must be 0 to 65535");
  if ((err = ensure_winsock()) != 0) {
    throw_wsa(env, err, "cannot start Winsock");
    return NULL;
  }
  bind = (udp_bind *)calloc(1, sizeof *bind);
  if (bind == NULL) return NULL;
  bind->env = env;
  bind->mark = mark;
  for (int i = 0; i < 2; i++) {
    bind->sockets[i].s = INVALID_SOCKET;
    bind->sockets[i].closing = INVALID_SOCKET;
    bind->sockets[i].family = i == 0 ? 4 : 6;
    bind->sockets[i].owner = bind;
  }
  if ((err = open_pair(bind, (uint16_t)port, &failed_family)) != 0) {
    char what[160];
    free(bind);
    if (err == WSAEADDRINUSE)
      snprintf(what, sizeof what, "UDP port %u is already in use (IPv%d); choose another listen port", port,
               failed_family);
    else if (err == WSAEACCES)
      snprintf(what, sizeof what, "UDP port %u is reserved or held exclusively by another program (IPv%d)", port,
               failed_family);
    else
      snprintf(what, sizeof what, "cannot open the UDP socket on port %u (IPv%d)", port, failed_family);
    throw_wsa(env, err, what);
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
  return io_number(env, (bind->sockets[0].s != INVALID_SOCKET ? 1 : 0) | (bind->sockets[1].s != INVALID_SOCKET ? 2 : 0));
}

/* udpSetMark(handle, mark): Windows has no socket marks; the value is kept, nothing else. */
static napi_value js_set_mark(napi_env env, napi_callback_info info) {
  napi_value args[2];
  udp_bind *bind;
  uint32_t mark;
  if (!io_args(env, info, 2, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL ||
      !io_get_u32(env, args[1], &mark))
    return NULL;
  bind->mark = mark;
  return io_undefined(env);
}

/* udpGetMark(handle, family) -> 0: the kernel holds no mark on Windows. */
static napi_value js_get_mark(napi_env env, napi_callback_info info) {
  napi_value args[2];
  udp_bind *bind;
  uint32_t family;
  if (!io_args(env, info, 2, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL ||
      !io_get_u32(env, args[1], &family))
    return NULL;
  return io_number(env, 0);
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
  if (batch.capacity > 1024 || sources_len < (size_t)batch.capacity * SOURCE_RECORD_BYTES ||
      (uint64_t)batch.packet_capacity + batch.tailroom > INT32_MAX) {
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
  bind->addresses = (struct sockaddr_storage *)calloc(batch.capacity, sizeof *bind->addresses);
  if (bind->addresses == NULL) {
    release_js(bind);
    io_throw(env, "ENOMEM", "udpStart: out of memory");
    return NULL;
  }
  napi_get_uv_event_loop(env, &loop);
  for (int i = 0; i < 2; i++) {
    udp_socket *sock = &bind->sockets[i];
    int err;
    if (sock->s == INVALID_SOCKET) continue;
    if (!sock->poll_open) {
      /* On Windows a socket must be watched with uv_poll_init_socket, not uv_poll_init. */
      if ((err = uv_poll_init_socket(loop, &sock->poll, sock->s)) != 0) {
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

/* udpSend(handle, buffer, offsets, lengths, count, family, addressBytes, port) -> datagrams sent. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value args[8];
  udp_bind *bind;
  uint8_t *data, *address_bytes;
  size_t data_len, offsets_count, lengths_count, address_len;
  int32_t *offsets, *lengths;
  uint32_t count, family, port, sent = 0;
  struct sockaddr_storage to;
  int to_len;
  udp_socket *sock;
  if (!io_args(env, info, 8, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 || io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
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
  if (sock->s == INVALID_SOCKET) {
    bind->stats.write_dropped += count;
    return io_number(env, 0);
  }
  for (uint32_t i = 0; i < count; i++) {
    int32_t offset = offsets[i], length = lengths[i];
    int err;
    if (offset < 0 || length < 0 || (size_t)offset + (size_t)length > data_len) {
      bind->stats.write_dropped++; /* malformed entry */
      continue;
    }
    if (sendto(sock->s, (const char *)data + offset, length, 0, (const struct sockaddr *)&to, to_len) != SOCKET_ERROR) {
      sent++;
      continue;
    }
    err = WSAGetLastError();
    if (err == WSAEWOULDBLOCK || err == WSAENOBUFS) {
      /* The send buffer is full: never block, drop the rest. */
      bind->stats.write_dropped += count - i;
      return io_number(env, sent);
    }
    /* This datagram was refused (unreachable, too big...): drop it and go on. */
    bind->stats.write_dropped++;
  }
  return io_number(env, sent);
}

/* udpSendEach(handle, buffer, offsets, lengths, count, destinations): datagram i to sender record i
 * (SOURCE_RECORD_BYTES each, io.h); a local address in the record is ignored here. */
static napi_value js_send_each(napi_env env, napi_callback_info info) {
  napi_value args[6];
  udp_bind *bind;
  uint8_t *data, *records;
  size_t data_len, offsets_count, lengths_count, records_len;
  int32_t *offsets, *lengths;
  uint32_t count, sent = 0;
  if (!io_args(env, info, 6, args, NULL) || (bind = unwrap_open(env, args[0])) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 || io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || !io_get_u32(env, args[4], &count) ||
      io_get_bytes(env, args[5], &records, &records_len) != 0)
    return NULL;
  IO_CHECK_ARG(env, count <= offsets_count && count <= lengths_count && (size_t)count * SOURCE_RECORD_BYTES <= records_len,
               "udpSendEach: count exceeds the offsets, lengths or destinations");
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *r = records + (size_t)i * SOURCE_RECORD_BYTES;
    int32_t offset = offsets[i], length = lengths[i];
    struct sockaddr_storage to;
    int to_len;
    udp_socket *sock = &bind->sockets[r[0] == 6 ? 1 : 0];
    if ((r[0] != 4 && r[0] != 6) || sock->s == INVALID_SOCKET || offset < 0 || length < 0 ||
        (size_t)offset + (size_t)length > data_len) {
      bind->stats.write_dropped++;
      continue;
    }
    memset(&to, 0, sizeof to);
    if (r[0] == 4) {
      struct sockaddr_in *v4 = (struct sockaddr_in *)&to;
      v4->sin_family = AF_INET;
      memcpy(&v4->sin_port, r + 2, 2);
      memcpy(&v4->sin_addr, r + 4, 4);
      to_len = sizeof *v4;
    } else {
      struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&to;
      v6->sin6_family = AF_INET6;
      memcpy(&v6->sin6_port, r + 2, 2);
      memcpy(&v6->sin6_addr, r + 4, 16);
      to_len = sizeof *v6;
    }
    if (sendto(sock->s, (const char *)data + offset, length, 0, (const struct sockaddr *)&to, to_len) != SOCKET_ERROR) sent++;
    else bind->stats.write_dropped++;
  }
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
