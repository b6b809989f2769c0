/* N-API plumbing shared by the TUN and UDP parts: arguments, errors, batches, callbacks. */
#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#endif

napi_value io_number(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

napi_value io_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

void io_throw(napi_env env, const char *code, const char *message) {
  napi_value error, code_value, message_value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_error(env, code_value, message_value, &error);
  napi_throw(env, error);
}

void io_throw_errno(napi_env env, int err, const char *what) {
  char message[512];
#ifdef _WIN32
  /* On Windows `err` is a GetLastError() code. */
  char text[256] = "";
  FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)err, 0,
                 text, sizeof text, NULL);
  snprintf(message, sizeof message, "%s: %s (Windows error %d)", what, text, err);
  char code[32];
  snprintf(code, sizeof code, "WIN%d", err);
  io_throw(env, code, message);
#else
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  /* libuv's error codes are negated errno values on Unix, which gives us the symbolic name. */
  io_throw(env, uv_err_name(-err), message);
#endif
}

int io_args(napi_env env, napi_callback_info info, size_t want, napi_value *args, void **data) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, args, NULL, data) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "wirelane_io: missing arguments");
    return 0;
  }
  return 1;
}

int io_get_u32(napi_env env, napi_value value, uint32_t *out) {
  if (napi_get_value_uint32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "wirelane_io: expected a number");
    return 0;
  }
  return 1;
}

int io_get_i32(napi_env env, napi_value value, int32_t *out) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "wirelane_io: expected a number");
    return 0;
  }
  return 1;
}

napi_value io_wrap(napi_env env, void *ptr, const napi_type_tag *tag, napi_finalize finalize) {
  napi_value external;
  if (napi_create_external(env, ptr, finalize, NULL, &external) != napi_ok) return NULL;
  napi_type_tag_object(env, external, tag);
  return external;
}

void *io_unwrap(napi_env env, napi_value external, const napi_type_tag *tag) {
  bool matches = false;
  void *ptr = NULL;
  if (napi_check_object_type_tag(env, external, tag, &matches) != napi_ok || !matches ||
      napi_get_value_external(env, external, &ptr) != napi_ok) {
    napi_throw_type_error(env, NULL, "wirelane_io: wrong handle");
    return NULL;
  }
  return ptr;
}

static int typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, void **data,
                          size_t *count) {
  bool is_typed = false;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(env, value, &type, count, data, &arraybuffer, &offset) != napi_ok)
    return 0;
  return type == want;
}

int io_get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *len) {
  if (!typed_array_of(env, value, napi_uint8_array, (void **)data, len)) {
    napi_throw_type_error(env, NULL, "wirelane_io: expected a Buffer or Uint8Array");
    return -1;
  }
  return 0;
}

int io_get_int32s(napi_env env, napi_value value, int32_t **data, size_t *count) {
  if (!typed_array_of(env, value, napi_int32_array, (void **)data, count)) {
    napi_throw_type_error(env, NULL, "wirelane_io: expected an Int32Array");
    return -1;
  }
  return 0;
}

int io_batch_init(napi_env env, io_batch *batch, napi_value *args) {
  size_t offsets_count, lengths_count;
  memset(batch, 0, sizeof *batch);
  if (io_get_bytes(env, args[0], &batch->data, &batch->data_len) != 0) return -1;
  if (io_get_int32s(env, args[1], &batch->offsets, &offsets_count) != 0) return -1;
  if (io_get_int32s(env, args[2], &batch->lengths, &lengths_count) != 0) return -1;
  if (!io_get_u32(env, args[3], &batch->slot_size) || !io_get_u32(env, args[4], &batch->headroom) ||
      !io_get_u32(env, args[5], &batch->packet_capacity))
    return -1;
  batch->entries = (uint32_t)(offsets_count < lengths_count ? offsets_count : lengths_count);
  batch->capacity = batch->entries;
  if (batch->slot_size > 0 && batch->data_len / batch->slot_size < batch->capacity)
    batch->capacity = (uint32_t)(batch->data_len / batch->slot_size);
  if (batch->capacity == 0 || batch->packet_capacity == 0 ||
      (uint64_t)batch->headroom + batch->packet_capacity > batch->slot_size ||
      batch->data_len > INT32_MAX) {
    napi_throw_range_error(env, NULL, "wirelane_io: the slot buffer does not hold its slots");
    return -1;
  }
  batch->tailroom = batch->slot_size - batch->headroom - batch->packet_capacity;
  for (uint32_t i = 0; i < batch->entries; i++) {
    batch->offsets[i] = (int32_t)((i < batch->capacity ? i : 0) * batch->slot_size + batch->headroom);
    batch->lengths[i] = 0;
  }
  for (int i = 0; i < 3; i++) napi_create_reference(env, args[i], 1, &batch->refs[i]);
  return 0;
}

void io_batch_release(napi_env env, io_batch *batch) {
  for (int i = 0; i < 4; i++) {
    if (batch->refs[i] != NULL) napi_delete_reference(env, batch->refs[i]);
    batch->refs[i] = NULL;
  }
  batch->data = NULL;
  batch->sources = NULL;
  batch->capacity = 0;
}

int io_callback_init(napi_env env, io_callback *cb, napi_value fn, const char *name) {
  napi_valuetype type;
  napi_value resource, resource_name;
  memset(cb, 0, sizeof *cb);
  if (napi_typeof(env, fn, &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "wirelane_io: expected a callback function");
    return -1;
  }
  cb->env = env;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, fn, 1, &cb->fn);
  napi_create_reference(env, resource, 1, &cb->resource);
  napi_async_init(env, resource, resource_name, &cb->context);
  return 0;
}

void io_callback_release(io_callback *cb) {
  if (cb->env == NULL) return;
  if (cb->context != NULL) napi_async_destroy(cb->env, cb->context);
  if (cb->fn != NULL) napi_delete_reference(cb->env, cb->fn);
  if (cb->resource != NULL) napi_delete_reference(cb->env, cb->resource);
  memset(cb, 0, sizeof *cb);
}

void io_callback_call(io_callback *cb, size_t argc, const double *argv) {
  napi_env env = cb->env;
  napi_handle_scope scope;
  napi_value fn, resource, result, args[4];
  if (env == NULL || cb->fn == NULL || argc > 4) return;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, cb->fn, &fn);
  napi_get_reference_value(env, cb->resource, &resource);
  for (size_t i = 0; i < argc; i++) napi_create_double(env, argv[i], &args[i]);
  /* napi_make_callback runs microtasks afterwards and keeps async_hooks/AsyncLocalStorage right. */
  if (napi_make_callback(env, cb->context, resource, fn, argc, args, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error); /* to process 'uncaughtException', as any callback would */
    }
  }
  napi_close_handle_scope(env, scope);
}

void io_stats_count_batch(io_stats *stats, uint32_t count) {
  stats->batches += 1;
  stats->packets += count;
  if (count > stats->largest_batch) stats->largest_batch = count;
}

napi_value io_stats_object(napi_env env, const io_stats *stats) {
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "batches", io_number(env, stats->batches));
  napi_set_named_property(env, out, "packets", io_number(env, stats->packets));
  napi_set_named_property(env, out, "largestBatch", io_number(env, stats->largest_batch));
  napi_set_named_property(env, out, "oversized", io_number(env, stats->oversized));
  napi_set_named_property(env, out, "writeDropped", io_number(env, stats->write_dropped));
  napi_set_named_property(env, out, "coalesced", io_number(env, stats->coalesced));
  return out;
}

void io_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}
