/*
 * TUN devices that are file descriptors (Linux, macOS): the JS functions, the event-loop
 * reader and the MTU ioctls. The platform files supply open/read/write (tun_posix.h).
 *
 * Reading is readiness-driven on the main loop: a uv_poll_t watches the fd; when it is
 * readable we read up to one batch of packets (until EAGAIN or the batch is full) into the
 * JS-owned slot buffer and call JS once. The poll is level-triggered, so a full batch simply
 * means the loop comes back for more after other work (UDP, timers) has had its turn.
 *
 * Losing the interface (ip link del) shows up as POLLERR/POLLHUP on the fd (libuv reports a
 * negative status) or as a read error such as EBADFD/EIO/ENODEV; either way polling stops
 * and JS is told once with onEvent(0, errno).
 */
#ifndef _WIN32

#include "io.h"
#include "tun_posix.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct tun_device {
  int fd;
  char name[IFNAMSIZ];
  uv_poll_t poll;
  int poll_open;  /* uv_poll_init done and its close callback not yet run */
  int polling;
  int delivering; /* inside the JS callback */
  int finalized;
  io_batch batch;
  io_callback on_event;
  io_stats stats;
  napi_env env;
} tun_device;

static const napi_type_tag tun_tag = {0x7769726c616e6574ULL, 0x74756e6465766963ULL};

/* Errors after which the fd will never deliver again: the interface is gone or broken. */
static int is_fatal_read_error(int err) {
  switch (err) {
#ifdef EBADFD
    case EBADFD:
#endif
    case EBADF:
    case EIO:
    case ENODEV:
    case ENXIO:
    case EPIPE:
    case ENOTCONN:
      return 1;
    default:
      return 0;
  }
}

static void release_js(tun_device *dev) {
  io_batch_release(dev->env, &dev->batch);
  io_callback_release(&dev->on_event);
}

static void maybe_free(tun_device *dev) {
  if (dev->finalized && !dev->poll_open) free(dev);
}

static void on_poll_closed(uv_handle_t *handle) {
  tun_device *dev = (tun_device *)handle->data;
  dev->poll_open = 0;
  maybe_free(dev);
}

static void stop_polling(tun_device *dev) {
  if (dev->polling) {
    uv_poll_stop(&dev->poll);
    dev->polling = 0;
  }
}

static void close_device(tun_device *dev) {
  stop_polling(dev);
  if (dev->poll_open && !uv_is_closing((uv_handle_t *)&dev->poll))
    uv_close((uv_handle_t *)&dev->poll, on_poll_closed);
  if (dev->fd >= 0) {
    tun_platform_close(dev->fd);
    dev->fd = -1;
  }
  if (!dev->delivering) release_js(dev);
}

static void deliver(tun_device *dev, uint32_t count, int err) {
  double args[2] = {count, err};
  if (count > 0) io_stats_count_batch(&dev->stats, count);
  dev->delivering = 1;
  io_callback_call(&dev->on_event, 2, args);
  dev->delivering = 0;
  if (dev->fd < 0) release_js(dev); /* closed from inside the callback */
}

/*
 * Reads up to one batch into the slots. Returns the count; *fatal gets an errno after which
 * the device is dead.
 */
static uint32_t read_batch(tun_device *dev, int *fatal) {
  io_batch *b = &dev->batch;
  uint32_t count = 0;
  /* Bounded: runts and oversized packets also use up an attempt. */
  for (uint32_t attempt = 0; attempt < 2 * b->capacity && count < b->capacity; attempt++) {
    uint8_t *packet = b->data + (size_t)count * b->slot_size + b->headroom;
    /* Read into the tailroom too: a packet that reaches into it did not fit and is dropped. */
    ssize_t n = tun_platform_read(dev->fd, packet, b->packet_capacity + b->tailroom);
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n < 0) {
      if (is_fatal_read_error((int)-n)) {
        *fatal = (int)-n;
        break;
      }
      dev->stats.oversized++; /* EFAULT/EINVAL/EMSGSIZE: a packet larger than the buffer */
      continue;
    }
    if (n == 0) continue;
    if ((size_t)n > b->packet_capacity) {
      dev->stats.oversized++;
      continue;
    }
    b->lengths[count++] = (int32_t)n;
  }
  return count;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  tun_device *dev = (tun_device *)handle->data;
  int fatal = 0;
  napi_handle_scope scope;

  if (status < 0) fatal = -status; /* libuv statuses are -errno on Unix (UV_EBADF for POLLERR) */
  /*
   * Batch after batch while the platform still holds packets of its own (the segments of a
   * TCP super-packet): the fd may not become readable again to bring us back for them.
   */
  for (;;) {
    uint32_t count = fatal ? 0 : read_batch(dev, &fatal);
    if (count == 0 && !fatal) return;
    napi_open_handle_scope(dev->env, &scope);
    if (count > 0) deliver(dev, count, 0);
    if (fatal && dev->fd >= 0) {
      stop_polling(dev);
      deliver(dev, 0, fatal);
    }
    napi_close_handle_scope(dev->env, scope);
    if (fatal || dev->fd < 0 || !tun_platform_pending(dev->fd)) return;
  }
}

static int ifreq_socket(void) { return socket(AF_INET, SOCK_DGRAM, 0); }

/* The interface MTU, or -errno (ENODEV once the interface is deleted). */
static int get_mtu(const char *name) {
  struct ifreq ifr;
  int fd = ifreq_socket(), result;
  if (fd < 0) return -errno;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  result = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
  close(fd);
  return result;
}

static int set_mtu(const char *name, int mtu) {
  struct ifreq ifr;
  int fd = ifreq_socket(), result;
  if (fd < 0) return -errno;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  ifr.ifr_mtu = mtu;
  result = ioctl(fd, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
  close(fd);
  return result;
}

static void finalize_device(napi_env env, void *data, void *hint) {
  tun_device *dev = (tun_device *)data;
  dev->finalized = 1;
  close_device(dev);
  maybe_free(dev);
}

static tun_device *unwrap(napi_env env, napi_value value) {
  tun_device *dev = (tun_device *)io_unwrap(env, value, &tun_tag);
  if (dev != NULL && dev->fd < 0) {
    io_throw(env, "ERR_TUN_CLOSED", "the TUN device is closed");
    return NULL;
  }
  return dev;
}

/* tunOpen(name, mtu) -> handle. mtu 0 leaves the MTU as it is. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value args[2];
  char requested[IFNAMSIZ + 1];
  size_t len = 0;
  uint32_t mtu;
  tun_device *dev;
  int fd, err;
  if (!io_args(env, info, 2, args, NULL)) return NULL;
  if (napi_get_value_string_utf8(env, args[0], requested, sizeof requested, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "tunOpen: the name must be a string");
    return NULL;
  }
  if (!io_get_u32(env, args[1], &mtu)) return NULL;
  if (len == 0 || len >= IFNAMSIZ) {
    io_throw(env, "EINVAL", "tunOpen: interface names are 1 to 15 characters");
    return NULL;
  }
  dev = (tun_device *)calloc(1, sizeof *dev);
  if (dev == NULL) return NULL;
  dev->env = env;
  fd = tun_platform_open(requested, dev->name, sizeof dev->name);
  if (fd < 0) {
    char what[128];
    free(dev);
    snprintf(what, sizeof what, "cannot create the TUN interface %s", requested);
    io_throw_errno(env, -fd, what);
    return NULL;
  }
  dev->fd = fd;
  if (mtu > 0 && (err = set_mtu(dev->name, (int)mtu)) < 0) {
    char what[128];
    tun_platform_close(fd);
    free(dev);
    snprintf(what, sizeof what, "cannot set the MTU of %s to %u", requested, mtu);
    io_throw_errno(env, -err, what);
    return NULL;
  }
  return io_wrap(env, dev, &tun_tag, finalize_device);
}

static napi_value js_name(napi_env env, napi_callback_info info) {
  napi_value args[1], out;
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL)
    return NULL;
  napi_create_string_utf8(env, dev->name, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* tunMtu(handle) -> the MTU, or -errno (e.g. -ENODEV when the interface is gone). */
static napi_value js_mtu(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL)
    return NULL;
  return io_number(env, get_mtu(dev->name));
}

static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  napi_value args[2];
  tun_device *dev;
  uint32_t mtu;
  int err;
  if (!io_args(env, info, 2, args, NULL) || (dev = unwrap(env, args[0])) == NULL ||
      !io_get_u32(env, args[1], &mtu))
    return NULL;
  if ((err = set_mtu(dev->name, (int)mtu)) < 0) {
    io_throw_errno(env, -err, "cannot set the MTU");
    return NULL;
  }
  return io_undefined(env);
}

/*
 * tunStart(handle, buffer, offsets, lengths, slotSize, headroom, packetCapacity,
 *          onEvent(count, errno)). Calling it again swaps in new buffers and callback.
 */
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value args[8];
  tun_device *dev;
  io_batch batch;
  io_callback cb;
  int err;
  if (!io_args(env, info, 8, args, NULL) || (dev = unwrap(env, args[0])) == NULL) return NULL;
  if (dev->delivering) {
    io_throw(env, "ERR_TUN_BUSY", "tunStart cannot be called from inside the packet callback");
    return NULL;
  }
  if (io_batch_init(env, &batch, args + 1) != 0) return NULL;
  if (io_callback_init(env, &cb, args[7], "wirelane:tun") != 0) {
    io_batch_release(env, &batch);
    return NULL;
  }
  release_js(dev);
  dev->batch = batch;
  dev->on_event = cb;
  if (!dev->poll_open) {
    uv_loop_t *loop;
    napi_get_uv_event_loop(env, &loop);
    if ((err = uv_poll_init(loop, &dev->poll, dev->fd)) != 0) {
      release_js(dev);
      io_throw(env, uv_err_name(err), "cannot watch the TUN device on the event loop");
      return NULL;
    }
    dev->poll.data = dev;
    dev->poll_open = 1;
  }
  if (!dev->polling) {
    if ((err = uv_poll_start(&dev->poll, UV_READABLE, on_readable)) != 0) {
      io_throw(env, uv_err_name(err), "cannot watch the TUN device on the event loop");
      return NULL;
    }
    dev->polling = 1;
  }
  return io_undefined(env);
}

/* tunWrite(handle, buffer, offsets, lengths, count) -> packets written. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value args[5];
  tun_device *dev;
  uint8_t *data;
  size_t data_len, offsets_count, lengths_count;
  int32_t *offsets, *lengths;
  uint32_t count, written = 0;
  if (!io_args(env, info, 5, args, NULL) || (dev = unwrap(env, args[0])) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 ||
      io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || !io_get_u32(env, args[4], &count))
    return NULL;
  IO_CHECK_ARG(env, count <= offsets_count && count <= lengths_count,
               "tunWrite: count exceeds the offsets or lengths");
  {
    uint32_t dropped = 0, coalesced = 0;
    written = tun_platform_write_batch(dev->fd, data, data_len, offsets, lengths, count, &dropped, &coalesced);
    dev->stats.write_dropped += dropped;
    dev->stats.coalesced += coalesced;
  }
  return io_number(env, written);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL)
    return NULL;
  close_device(dev);
  return io_undefined(env);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL)
    return NULL;
  return io_stats_object(env, &dev->stats);
}

void io_register_tun(napi_env env, napi_value exports) {
  io_export(env, exports, "tunOpen", js_open);
  io_export(env, exports, "tunName", js_name);
  io_export(env, exports, "tunMtu", js_mtu);
  io_export(env, exports, "tunSetMtu", js_set_mtu);
  io_export(env, exports, "tunStart", js_start);
  io_export(env, exports, "tunWrite", js_write);
  io_export(env, exports, "tunClose", js_close);
  io_export(env, exports, "tunStats", js_stats);
}

#endif
