/*
 * Windows service protocol for the helper, so the Node runtime that runs wirelane-helper can be
 * the service process itself (no wrapper executable to ship or download).
 *
 * The Service Control Manager starts the binary and expects it to call
 * StartServiceCtrlDispatcherW within 30 seconds; that call blocks for the life of the service,
 * so it runs on a thread of its own here and the event loop stays free:
 *
 *   serviceStart(name, onStop)  thread: StartServiceCtrlDispatcherW -> ServiceMain:
 *                               RegisterServiceCtrlHandlerExW, report START_PENDING
 *   serviceSetRunning()         report RUNNING (accepting STOP, SHUTDOWN and PRESHUTDOWN)
 *   (SCM sends STOP/SHUTDOWN)   handler thread: report STOP_PENDING, wake the loop
 *                               (uv_async_send) -> onStop() in JavaScript
 *   serviceStopped(exitCode)    report STOPPED; ServiceMain returns, the dispatcher returns
 *
 * PRESHUTDOWN is accepted so the helper gets time (the SCM's preshutdown timeout, 3 minutes by
 * default for it) to take tunnels down and restore routes and DNS before the machine stops.
 * A failure of the dispatcher itself (the process was not started by the SCM, error 1063) is
 * reported to onStop as well, with that error, so the caller can say so and exit.
 *
 * Status updates may come before ServiceMain has its status handle (JS is faster than the
 * SCM's thread); they are kept under a lock and applied once the handle exists.
 */
#ifdef _WIN32

#include "io.h"

#include <windows.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE_NAME_CHARS 256
#define STOP_WAIT_HINT_MS 30000

static struct {
  CRITICAL_SECTION lock;
  int lock_ready;
  int started;
  WCHAR name[SERVICE_NAME_CHARS];
  SERVICE_STATUS_HANDLE handle;
  SERVICE_STATUS status;
  HANDLE stopped_event; /* set by serviceStopped(); ServiceMain returns then */
  uv_async_t wake;
  DWORD dispatcher_error; /* set by the dispatcher thread when StartServiceCtrlDispatcherW fails */
  volatile LONG stop_requested;
  io_callback on_stop;
  napi_env env;
} service;

/* Applies service.status (under the lock) if the SCM has given us a handle yet. */
static void report_locked(void) {
  if (service.handle != NULL) SetServiceStatus(service.handle, &service.status);
}

static void set_state(DWORD state, DWORD exit_code, DWORD wait_hint) {
  EnterCriticalSection(&service.lock);
  service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  service.status.dwCurrentState = state;
  service.status.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN : 0;
  service.status.dwWin32ExitCode = exit_code;
  service.status.dwWaitHint = wait_hint;
  service.status.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : service.status.dwCheckPoint + 1;
  report_locked();
  LeaveCriticalSection(&service.lock);
}

static DWORD WINAPI control_handler(DWORD control, DWORD event_type, void *event_data, void *context) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
    case SERVICE_CONTROL_PRESHUTDOWN:
      if (InterlockedExchange(&service.stop_requested, 1) == 0) {
        set_state(SERVICE_STOP_PENDING, NO_ERROR, STOP_WAIT_HINT_MS);
        uv_async_send(&service.wake); /* the only libuv call that is safe from another thread */
      }
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv) {
  SERVICE_STATUS_HANDLE handle = RegisterServiceCtrlHandlerExW(service.name, control_handler, NULL);
  if (handle == NULL) return;
  EnterCriticalSection(&service.lock);
  service.handle = handle;
  if (service.status.dwCurrentState == 0) {
    service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    service.status.dwCurrentState = SERVICE_START_PENDING;
    service.status.dwWaitHint = STOP_WAIT_HINT_MS;
  }
  report_locked(); /* START_PENDING, or RUNNING if JavaScript got there first */
  LeaveCriticalSection(&service.lock);
  WaitForSingleObject(service.stopped_event, INFINITE);
}

static DWORD WINAPI dispatcher_thread(void *unused) {
  SERVICE_TABLE_ENTRYW table[2];
  memset(table, 0, sizeof table);
  table[0].lpServiceName = service.name;
  table[0].lpServiceProc = service_main;
  if (!StartServiceCtrlDispatcherW(table)) {
    service.dispatcher_error = GetLastError();
    uv_async_send(&service.wake);
  }
  return 0;
}

/* On the loop: the SCM asked us to stop, or the dispatcher failed. */
static void on_wake(uv_async_t *handle) {
  double args[1] = {(double)service.dispatcher_error};
  napi_handle_scope scope;
  napi_open_handle_scope(service.env, &scope);
  io_callback_call(&service.on_stop, 1, args);
  napi_close_handle_scope(service.env, scope);
}

/* serviceStart(name, onStop(error)): connects to the SCM on a thread of its own. */
static napi_value js_service_start(napi_env env, napi_callback_info info) {
  napi_value args[2];
  size_t len = 0;
  uv_loop_t *loop;
  HANDLE thread;
  if (!io_args(env, info, 2, args, NULL)) return NULL;
  if (service.started) {
    io_throw(env, "ERR_SERVICE_STARTED", "serviceStart may be called once per process");
    return NULL;
  }
  if (napi_get_value_string_utf16(env, args[0], (char16_t *)service.name, SERVICE_NAME_CHARS, &len) != napi_ok ||
      len == 0 || len >= SERVICE_NAME_CHARS - 1) {
    napi_throw_type_error(env, NULL, "serviceStart: the service name must be 1 to 254 characters");
    return NULL;
  }
  if (io_callback_init(env, &service.on_stop, args[1], "wirelane:service") != 0) return NULL;
  service.env = env;
  if (!service.lock_ready) {
    InitializeCriticalSection(&service.lock);
    service.lock_ready = 1;
  }
  service.stopped_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &service.wake, on_wake);
  uv_unref((uv_handle_t *)&service.wake); /* the helper's own handles keep the process alive */
  thread = CreateThread(NULL, 0, dispatcher_thread, NULL, 0, NULL);
  if (thread == NULL || service.stopped_event == NULL) {
    io_throw_errno(env, (int)GetLastError(), "serviceStart: cannot start the service dispatcher thread");
    return NULL;
  }
  CloseHandle(thread);
  service.started = 1;
  return io_undefined(env);
}

/* serviceSetRunning(): the helper is serving; the SCM shows "Running" and may send STOP. */
static napi_value js_service_set_running(napi_env env, napi_callback_info info) {
  if (!service.started) {
    io_throw(env, "ERR_SERVICE_NOT_STARTED", "serviceSetRunning before serviceStart");
    return NULL;
  }
  if (!service.stop_requested) set_state(SERVICE_RUNNING, NO_ERROR, 0);
  return io_undefined(env);
}

/* serviceStopped(exitCode): everything is cleaned up; tells the SCM, which may end the process. */
static napi_value js_service_stopped(napi_env env, napi_callback_info info) {
  napi_value args[1];
  uint32_t exit_code;
  if (!io_args(env, info, 1, args, NULL) || !io_get_u32(env, args[0], &exit_code)) return NULL;
  if (!service.started) {
    io_throw(env, "ERR_SERVICE_NOT_STARTED", "serviceStopped before serviceStart");
    return NULL;
  }
  /* A failed stop is reported as ERROR_PROCESS_ABORTED (1067): with `sc failureflag NAME 1`
   * the SCM's recovery actions (restart) then apply, as they do when the process dies. */
  set_state(SERVICE_STOPPED, exit_code == 0 ? NO_ERROR : ERROR_PROCESS_ABORTED, 0);
  SetEvent(service.stopped_event);
  if (!uv_is_closing((uv_handle_t *)&service.wake)) uv_close((uv_handle_t *)&service.wake, NULL);
  io_callback_release(&service.on_stop);
  return io_undefined(env);
}

void io_register_service(napi_env env, napi_value exports) {
  io_export(env, exports, "serviceStart", js_service_start);
  io_export(env, exports, "serviceSetRunning", js_service_set_running);
  io_export(env, exports, "serviceStopped", js_service_stopped);
}

#else

#include "io.h"

/* systemd and launchd stop the helper with SIGTERM; nothing to do here. */
void io_register_service(napi_env env, napi_value exports) {}

#endif
