/*
 * Shared pieces of the wirelane_io addon.
 *
 * Data path shape (same for the TUN and the UDP side): JavaScript allocates one Buffer holding
 * `capacity` fixed-size slots plus two Int32Arrays (offsets, lengths). The native side keeps
 * references to them, and on each readiness event reads up to `capacity` packets straight into
 * the slots, fills offsets/lengths, and calls the JavaScript callback once with the count. No
 * allocation and no JS call per packet. Writes take the same (buffer, offsets, lengths, count)
 * shape and cost one N-API call per batch.
 */
#ifndef WIRELANE_IO_H
#define WIRELANE_IO_H

#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stddef.h>

/* Fails the current N-API call with a TypeError if `cond` is false. */
#define IO_CHECK_ARG(env, cond, msg)                 \
  do {                                               \
    if (!(cond)) {                                   \
      napi_throw_type_error((env), NULL, (msg));     \
      return NULL;                                   \
    }                                                \
  } while (0)

/*
 * Bytes of one sender record, the layout the UDP reader writes per datagram and udpSendEach and
 * the handshake filter read: [family 4|6][1 if a local address follows][port, big-endian]
 * [address, 16 bytes, IPv4 in the first 4][local address it was sent to, 16 bytes]
 * [interface index, big-endian u32]. Exported to JavaScript as `sourceRecordBytes`;
 * engine/native/addon.ts SOURCE_RECORD_BYTES must equal it (checked when the addon loads).
 */
#define SOURCE_RECORD_BYTES 40

/* A JavaScript-owned slot buffer that native code fills. */
typedef struct io_batch {
  uint8_t *data;
  size_t data_len;
  int32_t *offsets;
  int32_t *lengths;
  uint32_t capacity;        /* number of slots the buffer holds (at most `entries`) */
  uint32_t entries;         /* length of offsets/lengths: packets one callback may describe */
  uint32_t slot_size;       /* bytes per slot */
  uint32_t headroom;        /* bytes kept free before each packet */
  uint32_t packet_capacity; /* largest packet kept; larger ones are dropped */
  uint32_t tailroom;        /* bytes kept free after a packet of packet_capacity */
  uint8_t *sources;         /* UDP only: SOURCE_RECORD_BYTES per slot, see udp_posix.c */
  napi_ref refs[4];
} io_batch;

/* A JavaScript function called from the event loop, with its async context. */
typedef struct io_callback {
  napi_env env;
  napi_ref fn;
  napi_ref resource;
  napi_async_context context;
} io_callback;

/* Statistics every reader keeps; read from JS with the `stats` functions. */
typedef struct io_stats {
  double batches;        /* callbacks delivered */
  double packets;        /* packets delivered */
  double largest_batch;  /* most packets in one callback */
  double oversized;      /* packets dropped for not fitting a slot */
  double write_dropped;  /* packets the OS refused on write/send */
  double coalesced;      /* UDP: datagrams that came inside GRO messages; TUN: segments written merged */
} io_stats;

/* Throws an Error whose `code` is the errno name ("EADDRINUSE") and `message` says what failed. */
void io_throw_errno(napi_env env, int err, const char *what);
/* Throws a plain Error with `code` and `message`. */
void io_throw(napi_env env, const char *code, const char *message);

/*
 * Reads args[first..first+5] = (buffer, offsets, lengths, slotSize, headroom, packetCapacity)
 * into `batch`, validating that every slot fits, and keeps references to the JS objects. The
 * buffer holds min(entries, buffer length / slotSize) slots; offsets/lengths may have more
 * entries than that (UDP GRO cuts one received message into many datagrams).
 * Returns 0 on success; on failure a JS exception is pending.
 */
int io_batch_init(napi_env env, io_batch *batch, napi_value *args);
void io_batch_release(napi_env env, io_batch *batch);

/* Gets the typed contents of a Buffer/Uint8Array/Int32Array argument. 0 on success. */
int io_get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *len);
int io_get_int32s(napi_env env, napi_value value, int32_t **data, size_t *count);

int io_callback_init(napi_env env, io_callback *cb, napi_value fn, const char *name);
void io_callback_release(io_callback *cb);
/* Calls the callback with numbers; an exception it throws is reported as uncaught. */
void io_callback_call(io_callback *cb, size_t argc, const double *argv);

napi_value io_stats_object(napi_env env, const io_stats *stats);
void io_stats_count_batch(io_stats *stats, uint32_t count);

napi_value io_number(napi_env env, double value);
napi_value io_undefined(napi_env env);
/* Gets args; returns 0 if fewer than `want` were passed (and throws). */
int io_args(napi_env env, napi_callback_info info, size_t want, napi_value *args, void **data);
int io_get_u32(napi_env env, napi_value value, uint32_t *out);
int io_get_i32(napi_env env, napi_value value, int32_t *out);
/* Wraps a native object in a tagged External; io_unwrap throws unless the tag matches. */
napi_value io_wrap(napi_env env, void *ptr, const napi_type_tag *tag, napi_finalize finalize);
void *io_unwrap(napi_env env, napi_value external, const napi_type_tag *tag);

/* Registration of each part's functions (each file defines the ones for its platform). */
void io_register_tun(napi_env env, napi_value exports);
void io_register_udp(napi_env env, napi_value exports);
/* Windows only (pipe_win32.c): named pipe security descriptors; nothing elsewhere. */
void io_register_pipe(napi_env env, napi_value exports);
/* Windows only (service_win32.c): the Service Control Manager protocol; nothing elsewhere. */
void io_register_service(napi_env env, napi_value exports);
/* Linux and macOS only (peercred_posix.c): peerCredentials(fd) of a connected Unix socket. */
void io_register_peercred(napi_env env, napi_value exports);
/* All platforms (handshake_filter.c): mac1/mac2 checks and cookie replies for a received batch. */
void io_register_handshake_filter(napi_env env, napi_value exports);
void io_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

#endif
