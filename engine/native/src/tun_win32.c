/*
 * Windows TUN: a Wintun adapter (https://www.wintun.net), with wintun.dll loaded at run time
 * from the directory of the executable (or System32), as wireguard-go and WireGuard for
 * Windows ship it.
 *
 * Reading: Wintun hands out packets from a ring with WintunReceivePacket until it returns
 * ERROR_NO_MORE_ITEMS; then its read-wait event is signalled when more arrive. We wait on
 * that event in the thread pool (RegisterWaitForSingleObject, one-shot), which wakes the
 * main loop through a uv_async_t; there we copy up to one batch into the JS slots, release
 * the ring entries, call JS once, and wait again only when the ring is drained (a full batch
 * schedules another pass instead). ERROR_HANDLE_EOF means the adapter is going away: JS is
 * told once with onEvent(0, errno).
 *
 * Writing: WintunAllocateSendPacket + copy + WintunSendPacket per packet; a full ring
 * (ERROR_BUFFER_OVERFLOW) drops the packet.
 *
 * The MTU is the IP interface's (GetIpInterfaceEntry / SetIpInterfaceEntry, both families).
 */
#ifdef _WIN32

#include "io.h"

#include <winsock2.h>
#include <windows.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>
#include <netioapi.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ring size for the session: 4 MiB, between WINTUN_MIN_RING_CAPACITY (128 KiB) and MAX (64 MiB). */
#define RING_CAPACITY 0x400000
#define ENGINE_ERROR_HANDLE_EOF 38 /* ERROR_HANDLE_EOF */

typedef void *WINTUN_ADAPTER_HANDLE;
typedef void *WINTUN_SESSION_HANDLE;

/* The entry points we use, as wintun.h declares them. */
typedef WINTUN_ADAPTER_HANDLE(WINAPI *CreateAdapterFn)(LPCWSTR name, LPCWSTR tunnel_type, const GUID *guid);
typedef WINTUN_ADAPTER_HANDLE(WINAPI *OpenAdapterFn)(LPCWSTR name);
typedef void(WINAPI *CloseAdapterFn)(WINTUN_ADAPTER_HANDLE adapter);
typedef void(WINAPI *GetAdapterLuidFn)(WINTUN_ADAPTER_HANDLE adapter, NET_LUID *luid);
typedef WINTUN_SESSION_HANDLE(WINAPI *StartSessionFn)(WINTUN_ADAPTER_HANDLE adapter, DWORD capacity);
typedef void(WINAPI *EndSessionFn)(WINTUN_SESSION_HANDLE session);
typedef HANDLE(WINAPI *GetReadWaitEventFn)(WINTUN_SESSION_HANDLE session);
typedef BYTE *(WINAPI *ReceivePacketFn)(WINTUN_SESSION_HANDLE session, DWORD *size);
typedef void(WINAPI *ReleaseReceivePacketFn)(WINTUN_SESSION_HANDLE session, const BYTE *packet);
typedef BYTE *(WINAPI *AllocateSendPacketFn)(WINTUN_SESSION_HANDLE session, DWORD size);
typedef void(WINAPI *SendPacketFn)(WINTUN_SESSION_HANDLE session, const BYTE *packet);

static struct {
  HMODULE dll;
  CreateAdapterFn CreateAdapter;
  OpenAdapterFn OpenAdapter;
  CloseAdapterFn CloseAdapter;
  GetAdapterLuidFn GetAdapterLUID;
  StartSessionFn StartSession;
  EndSessionFn EndSession;
  GetReadWaitEventFn GetReadWaitEvent;
  ReceivePacketFn ReceivePacket;
  ReleaseReceivePacketFn ReleaseReceivePacket;
  AllocateSendPacketFn AllocateSendPacket;
  SendPacketFn SendPacket;
} wintun;

static DWORD load_wintun(void) {
  if (wintun.dll != NULL) return 0;
  HMODULE dll = LoadLibraryExW(L"wintun.dll", NULL, LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (dll == NULL) return GetLastError();
  /* memcpy, not a cast through FARPROC *: assigning via a punned pointer breaks strict aliasing. */
#define WINTUN_SYMBOL(field, name)                        \
  {                                                       \
    FARPROC proc = GetProcAddress(dll, name);             \
    if (proc == NULL) goto missing;                       \
    memcpy(&wintun.field, &proc, sizeof proc);            \
  }
  WINTUN_SYMBOL(CreateAdapter, "WintunCreateAdapter")
  WINTUN_SYMBOL(OpenAdapter, "WintunOpenAdapter")
  WINTUN_SYMBOL(CloseAdapter, "WintunCloseAdapter")
  WINTUN_SYMBOL(GetAdapterLUID, "WintunGetAdapterLUID")
  WINTUN_SYMBOL(StartSession, "WintunStartSession")
  WINTUN_SYMBOL(EndSession, "WintunEndSession")
  WINTUN_SYMBOL(GetReadWaitEvent, "WintunGetReadWaitEvent")
  WINTUN_SYMBOL(ReceivePacket, "WintunReceivePacket")
  WINTUN_SYMBOL(ReleaseReceivePacket, "WintunReleaseReceivePacket")
  WINTUN_SYMBOL(AllocateSendPacket, "WintunAllocateSendPacket")
  WINTUN_SYMBOL(SendPacket, "WintunSendPacket")
#undef WINTUN_SYMBOL
  wintun.dll = dll;
  return 0;
missing:
  FreeLibrary(dll);
  return ERROR_PROC_NOT_FOUND;
}

typedef struct tun_device {
  WINTUN_ADAPTER_HANDLE adapter;
  WINTUN_SESSION_HANDLE session;
  NET_LUID luid;
  char name[256];
  HANDLE read_event;
  HANDLE wait; /* the registered one-shot wait, or NULL */
  uv_async_t wake;
  int wake_open;
  int started;
  int delivering;
  int finalized;
  int mtu;
  io_batch batch;
  io_callback on_event;
  io_stats stats;
  napi_env env;
} tun_device;

static const napi_type_tag tun_tag = {0x7769726c616e6574ULL, 0x74756e6465766963ULL};

static void release_js(tun_device *dev) {
  io_batch_release(dev->env, &dev->batch);
  io_callback_release(&dev->on_event);
}

static void maybe_free(tun_device *dev) {
  if (dev->finalized && !dev->wake_open) free(dev);
}

static void on_wake_closed(uv_handle_t *handle) {
  tun_device *dev = (tun_device *)handle->data;
  dev->wake_open = 0;
  maybe_free(dev);
}

/* Thread pool: the read-wait event fired. Only uv_async_send is safe to call from here. */
static void CALLBACK on_read_event(void *context, BOOLEAN timed_out) {
  tun_device *dev = (tun_device *)context;
  uv_async_send(&dev->wake);
}

static void arm_wait(tun_device *dev) {
  if (dev->wait != NULL) {
    UnregisterWaitEx(dev->wait, NULL); /* the one-shot already ran; this frees it */
    dev->wait = NULL;
  }
  RegisterWaitForSingleObject(&dev->wait, dev->read_event, on_read_event, dev, INFINITE,
                              WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD);
}

static void close_device(tun_device *dev) {
  if (dev->wait != NULL) {
    UnregisterWaitEx(dev->wait, INVALID_HANDLE_VALUE); /* waits for a running callback */
    dev->wait = NULL;
  }
  if (dev->wake_open && !uv_is_closing((uv_handle_t *)&dev->wake))
    uv_close((uv_handle_t *)&dev->wake, on_wake_closed);
  if (dev->session != NULL) {
    wintun.EndSession(dev->session);
    dev->session = NULL;
  }
  if (dev->adapter != NULL) {
    wintun.CloseAdapter(dev->adapter); /* removes the adapter we created */
    dev->adapter = NULL;
  }
  dev->started = 0;
  if (!dev->delivering) release_js(dev);
}

static void deliver(tun_device *dev, uint32_t count, int err) {
  double args[2] = {count, err};
  if (count > 0) io_stats_count_batch(&dev->stats, count);
  dev->delivering = 1;
  io_callback_call(&dev->on_event, 2, args);
  dev->delivering = 0;
  if (dev->session == NULL) release_js(dev);
}

static void on_wake(uv_async_t *handle) {
  tun_device *dev = (tun_device *)handle->data;
  io_batch *b = &dev->batch;
  uint32_t count = 0;
  DWORD error = 0;
  napi_handle_scope scope;
  if (dev->session == NULL || !dev->started) return;
  while (count < b->capacity) {
    DWORD size = 0;
    BYTE *packet = wintun.ReceivePacket(dev->session, &size);
    if (packet == NULL) {
      error = GetLastError();
      break;
    }
    if (size > b->packet_capacity) {
      dev->stats.oversized++;
    } else {
      memcpy(b->data + (size_t)count * b->slot_size + b->headroom, packet, size);
      b->lengths[count++] = (int32_t)size;
    }
    wintun.ReleaseReceivePacket(dev->session, packet);
  }
  napi_open_handle_scope(dev->env, &scope);
  if (count > 0) deliver(dev, count, 0);
  if (dev->session != NULL) {
    if (error == ERROR_HANDLE_EOF) {
      dev->started = 0;
      deliver(dev, 0, ENGINE_ERROR_HANDLE_EOF);
    } else if (error == ERROR_NO_MORE_ITEMS) {
      arm_wait(dev); /* drained: sleep until Wintun signals */
    } else if (error == 0) {
      uv_async_send(&dev->wake); /* a full batch: come back after other work */
    } else {
      arm_wait(dev); /* ERROR_INVALID_DATA and the like: skip and keep going */
    }
  }
  napi_close_handle_scope(dev->env, scope);
}

static int interface_mtu(tun_device *dev) {
  MIB_IPINTERFACE_ROW row;
  InitializeIpInterfaceEntry(&row);
  row.Family = AF_INET;
  row.InterfaceLuid = dev->luid;
  if (GetIpInterfaceEntry(&row) != NO_ERROR) return dev->mtu;
  return (int)row.NlMtu;
}

static DWORD set_interface_mtu(tun_device *dev, ULONG mtu) {
  ADDRESS_FAMILY families[2] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    MIB_IPINTERFACE_ROW row;
    DWORD err;
    InitializeIpInterfaceEntry(&row);
    row.Family = families[i];
    row.InterfaceLuid = dev->luid;
    if ((err = GetIpInterfaceEntry(&row)) != NO_ERROR) {
      if (err == ERROR_NOT_FOUND) continue; /* that family is not bound to the adapter */
      return err;
    }
    row.NlMtu = mtu;
    if (families[i] == AF_INET) row.SitePrefixLength = 0; /* required by SetIpInterfaceEntry for IPv4 */
    if ((err = SetIpInterfaceEntry(&row)) != NO_ERROR) return err;
  }
  dev->mtu = (int)mtu;
  return 0;
}

static void finalize_device(napi_env env, void *data, void *hint) {
  tun_device *dev = (tun_device *)data;
  dev->finalized = 1;
  close_device(dev);
  maybe_free(dev);
}

static tun_device *unwrap(napi_env env, napi_value value) {
  tun_device *dev = (tun_device *)io_unwrap(env, value, &tun_tag);
  if (dev != NULL && dev->session == NULL) {
    io_throw(env, "ERR_TUN_CLOSED", "the TUN device is closed");
    return NULL;
  }
  return dev;
}

/* tunOpen(name, mtu) -> handle: creates the Wintun adapter `name` and starts a session. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value args[2];
  WCHAR name[128];
  size_t len = 0;
  uint32_t mtu;
  DWORD err;
  tun_device *dev;
  uv_loop_t *loop;
  if (!io_args(env, info, 2, args, NULL)) return NULL;
  if (napi_get_value_string_utf16(env, args[0], (char16_t *)name, 128, &len) != napi_ok || len == 0 || len >= 127) {
    napi_throw_type_error(env, NULL, "tunOpen: the adapter name must be 1 to 126 characters");
    return NULL;
  }
  if (!io_get_u32(env, args[1], &mtu)) return NULL;
  if ((err = load_wintun()) != 0) {
    io_throw_errno(env, (int)err, "cannot load wintun.dll (it must sit beside the executable)");
    return NULL;
  }
  dev = (tun_device *)calloc(1, sizeof *dev);
  if (dev == NULL) return NULL;
  dev->env = env;
  dev->mtu = (int)mtu;
  napi_get_value_string_utf8(env, args[0], dev->name, sizeof dev->name, &len);
  /* Never take over an adapter that exists already (Linux: IFF_TUN_EXCL): refuse the name. */
  {
    WINTUN_ADAPTER_HANDLE existing = wintun.OpenAdapter(name);
    if (existing != NULL) {
      wintun.CloseAdapter(existing);
      free(dev);
      io_throw_errno(env, ERROR_ALREADY_EXISTS, "a Wintun adapter of that name exists already; choose another tunnel name");
      return NULL;
    }
  }
  dev->adapter = wintun.CreateAdapter(name, L"Wirelane", NULL);
  if (dev->adapter == NULL) {
    err = GetLastError();
    free(dev);
    io_throw_errno(env, (int)err, "cannot create the Wintun adapter");
    return NULL;
  }
  wintun.GetAdapterLUID(dev->adapter, &dev->luid);
  dev->session = wintun.StartSession(dev->adapter, RING_CAPACITY);
  if (dev->session == NULL) {
    err = GetLastError();
    wintun.CloseAdapter(dev->adapter);
    free(dev);
    io_throw_errno(env, (int)err, "cannot start a Wintun session");
    return NULL;
  }
  dev->read_event = wintun.GetReadWaitEvent(dev->session);
  if (mtu > 0) set_interface_mtu(dev, mtu); /* best effort: engine/os sets it again with the addresses */
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &dev->wake, on_wake);
  dev->wake.data = dev;
  dev->wake_open = 1;
  uv_unref((uv_handle_t *)&dev->wake); /* referenced only while started */
  return io_wrap(env, dev, &tun_tag, finalize_device);
}

static napi_value js_name(napi_env env, napi_callback_info info) {
  napi_value args[1], out;
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL) return NULL;
  napi_create_string_utf8(env, dev->name, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value js_mtu(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL) return NULL;
  return io_number(env, dev->session == NULL ? -ENODEV : interface_mtu(dev));
}

static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  napi_value args[2];
  tun_device *dev;
  uint32_t mtu;
  DWORD err;
  if (!io_args(env, info, 2, args, NULL) || (dev = unwrap(env, args[0])) == NULL || !io_get_u32(env, args[1], &mtu))
    return NULL;
  if ((err = set_interface_mtu(dev, mtu)) != 0) {
    io_throw_errno(env, (int)err, "cannot set the MTU");
    return NULL;
  }
  return io_undefined(env);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value args[8];
  tun_device *dev;
  io_batch batch;
  io_callback cb;
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
  if (!dev->started) {
    dev->started = 1;
    uv_ref((uv_handle_t *)&dev->wake);
    uv_async_send(&dev->wake); /* drain whatever is already queued, then arm the wait */
  }
  return io_undefined(env);
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value args[5];
  tun_device *dev;
  uint8_t *data;
  size_t data_len, offsets_count, lengths_count;
  int32_t *offsets, *lengths;
  uint32_t count, written = 0;
  if (!io_args(env, info, 5, args, NULL) || (dev = unwrap(env, args[0])) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 || io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || !io_get_u32(env, args[4], &count))
    return NULL;
  IO_CHECK_ARG(env, count <= offsets_count && count <= lengths_count, "tunWrite: count exceeds the offsets or lengths");
  for (uint32_t i = 0; i < count; i++) {
    int32_t offset = offsets[i], length = lengths[i];
    BYTE *slot;
    if (offset < 0 || length <= 0 || length > 0xFFFF || (size_t)offset + (size_t)length > data_len ||
        (slot = wintun.AllocateSendPacket(dev->session, (DWORD)length)) == NULL) {
      dev->stats.write_dropped++;
      continue;
    }
    memcpy(slot, data + offset, (size_t)length);
    wintun.SendPacket(dev->session, slot);
    written++;
  }
  return io_number(env, written);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL) return NULL;
  close_device(dev);
  return io_undefined(env);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tun_device *dev;
  if (!io_args(env, info, 1, args, NULL) || (dev = io_unwrap(env, args[0], &tun_tag)) == NULL) return NULL;
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
