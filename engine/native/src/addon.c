/* Entry point of the wirelane_io addon: one module, the TUN part, the UDP part, the handshake
 * filter (the cheap path under a handshake flood), (Windows) pipe security and the service protocol, and (Linux, macOS) the peer credentials of a Unix socket. */
#include "io.h"

static napi_value init(napi_env env, napi_value exports) {
  io_register_tun(env, exports);
  io_register_udp(env, exports);
  io_register_pipe(env, exports);
  io_register_service(env, exports);
  io_register_handshake_filter(env, exports);
  napi_value record_bytes;
  if (napi_create_uint32(env, SOURCE_RECORD_BYTES, &record_bytes) != napi_ok ||
      napi_set_named_property(env, exports, "sourceRecordBytes", record_bytes) != napi_ok)
    return NULL;
#ifndef _WIN32
  io_register_peercred(env, exports);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
