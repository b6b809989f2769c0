/*
 * Security descriptors for the named pipes Node serves (the helper's control pipe, the engine's
 * UAPI pipe). node:net cannot pass a security descriptor to the pipes it creates, and it cannot
 * adopt a pipe handle made elsewhere as a server either. What can be done, and why:
 *
 * - Creating the pipe first, with our descriptor, and letting Node add instances does NOT work:
 *   libuv's uv_pipe_bind creates its first instance with FILE_FLAG_FIRST_PIPE_INSTANCE and
 *   reports EADDRINUSE when the name exists.
 * - A named pipe has ONE security descriptor for all its instances (the named pipe file system
 *   keeps it with the pipe's name; CreateNamedPipe's lpSecurityAttributes only count for the
 *   first instance). Any server instance opened with WRITE_DAC can replace it; libuv's own
 *   uv_pipe_chmod relies on exactly this.
 *
 * So pipeSetSecurity(name, sddl) runs right after Node's listen(): it creates one more instance
 * of the pipe with WRITE_DAC | WRITE_OWNER, replaces the pipe's DACL (protected: nothing
 * inherited) and, where the SDDL has one, its mandatory label, closes that instance, and returns
 * the descriptor now in effect as SDDL so the caller can log and check it.
 *
 * Limits (also in docs/security.md): between listen() and this call the pipe has Node's default
 * descriptor (SYSTEM and Administrators full control, Everyone read - no one else can write, so
 * no one else can send a request); a client that opens the pipe in that window keeps the access
 * it was granted then. A client may also briefly connect to the extra instance and see it close.
 *
 * lookupGroupSid(name) gives the SID string ("S-1-5-...") of a group ("COMPUTER\\wirelane"), or
 * null when there is no such group (or the name is a user), so the caller can name the group in
 * an SDDL string.
 */
#ifdef _WIN32

#include "io.h"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_NAME_CHARS 256
#define SDDL_CHARS 1024

static int get_wide(napi_env env, napi_value value, WCHAR *out, size_t chars, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf16(env, value, (char16_t *)out, chars, &len) != napi_ok || len == 0 || len >= chars - 1) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

/* The pipe's descriptor as SDDL (owner, DACL, label), or NULL with a pending JS error. */
static napi_value descriptor_of(napi_env env, HANDLE pipe) {
  PSECURITY_DESCRIPTOR sd = NULL;
  LPWSTR text = NULL;
  napi_value out;
  DWORD err = GetSecurityInfo(pipe, SE_KERNEL_OBJECT,
                              OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION,
                              NULL, NULL, NULL, NULL, &sd);
  if (err != ERROR_SUCCESS) {
    io_throw_errno(env, (int)err, "cannot read the pipe's security descriptor");
    return NULL;
  }
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
          sd, SDDL_REVISION_1, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION,
          &text, NULL)) {
    err = GetLastError();
    LocalFree(sd);
    io_throw_errno(env, (int)err, "cannot convert the pipe's security descriptor to SDDL");
    return NULL;
  }
  napi_create_string_utf16(env, (const char16_t *)text, NAPI_AUTO_LENGTH, &out);
  LocalFree(text);
  LocalFree(sd);
  return out;
}

/* pipeSetSecurity(pipeName, sddl) -> the SDDL in effect afterwards. */
static napi_value js_pipe_set_security(napi_env env, napi_callback_info info) {
  napi_value args[2], result;
  WCHAR name[PIPE_NAME_CHARS], sddl[SDDL_CHARS];
  PSECURITY_DESCRIPTOR sd = NULL;
  PACL dacl = NULL, sacl = NULL;
  BOOL dacl_present = FALSE, sacl_present = FALSE, defaulted = FALSE;
  SECURITY_INFORMATION what = DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION;
  HANDLE pipe;
  DWORD err;
  if (!io_args(env, info, 2, args, NULL) ||
      !get_wide(env, args[0], name, PIPE_NAME_CHARS, "pipeSetSecurity: the pipe name must be 1 to 254 characters") ||
      !get_wide(env, args[1], sddl, SDDL_CHARS, "pipeSetSecurity: the SDDL must be 1 to 1022 characters"))
    return NULL;
  if (wcsncmp(name, L"\\\\.\\pipe\\", 9) != 0) {
    napi_throw_type_error(env, NULL, "pipeSetSecurity: the name must start with \\\\.\\pipe\\");
    return NULL;
  }
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL)) {
    io_throw_errno(env, (int)GetLastError(), "pipeSetSecurity: the SDDL is not valid");
    return NULL;
  }
  if (!GetSecurityDescriptorDacl(sd, &dacl_present, &dacl, &defaulted) || !dacl_present || dacl == NULL) {
    LocalFree(sd);
    napi_throw_type_error(env, NULL, "pipeSetSecurity: the SDDL must have a DACL (D:...) that is not NULL");
    return NULL;
  }
  if (GetSecurityDescriptorSacl(sd, &sacl_present, &sacl, &defaulted) && sacl_present && sacl != NULL)
    what |= LABEL_SECURITY_INFORMATION;

  /* Same open mode, type and instance limit as libuv's instances, or Windows refuses a new one. */
  pipe = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | WRITE_DAC | WRITE_OWNER,
                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, PIPE_UNLIMITED_INSTANCES, 65536, 65536,
                          0, NULL);
  if (pipe == INVALID_HANDLE_VALUE) {
    err = GetLastError();
    LocalFree(sd);
    io_throw_errno(env, (int)err, "pipeSetSecurity: cannot open an instance of the pipe (is it being served?)");
    return NULL;
  }
  err = SetSecurityInfo(pipe, SE_KERNEL_OBJECT, what, NULL, NULL, dacl, (what & LABEL_SECURITY_INFORMATION) ? sacl : NULL);
  LocalFree(sd);
  if (err != ERROR_SUCCESS) {
    CloseHandle(pipe);
    io_throw_errno(env, (int)err, "pipeSetSecurity: cannot set the pipe's security descriptor");
    return NULL;
  }
  result = descriptor_of(env, pipe);
  CloseHandle(pipe);
  return result;
}

/* lookupGroupSid(name) -> "S-1-5-..." or null when no such group exists. */
static napi_value js_lookup_group_sid(napi_env env, napi_callback_info info) {
  napi_value args[1], out;
  WCHAR name[PIPE_NAME_CHARS], domain[PIPE_NAME_CHARS];
  BYTE sid[SECURITY_MAX_SID_SIZE];
  DWORD sid_size = sizeof sid, domain_chars = PIPE_NAME_CHARS;
  SID_NAME_USE use;
  LPWSTR text = NULL;
  if (!io_args(env, info, 1, args, NULL) ||
      !get_wide(env, args[0], name, PIPE_NAME_CHARS, "lookupGroupSid: the name must be 1 to 254 characters"))
    return NULL;
  if (!LookupAccountNameW(NULL, name, (PSID)sid, &sid_size, domain, &domain_chars, &use)) {
    DWORD err = GetLastError();
    if (err == ERROR_NONE_MAPPED) {
      napi_get_null(env, &out);
      return out;
    }
    io_throw_errno(env, (int)err, "lookupGroupSid: cannot look up the group");
    return NULL;
  }
  if (use != SidTypeAlias && use != SidTypeGroup && use != SidTypeWellKnownGroup) {
    napi_get_null(env, &out); /* a user (or computer) of that name is not a group to grant */
    return out;
  }
  if (!ConvertSidToStringSidW((PSID)sid, &text)) {
    io_throw_errno(env, (int)GetLastError(), "lookupGroupSid: cannot format the SID");
    return NULL;
  }
  napi_create_string_utf16(env, (const char16_t *)text, NAPI_AUTO_LENGTH, &out);
  LocalFree(text);
  return out;
}

void io_register_pipe(napi_env env, napi_value exports) {
  io_export(env, exports, "pipeSetSecurity", js_pipe_set_security);
  io_export(env, exports, "lookupGroupSid", js_lookup_group_sid);
}

#else

#include "io.h"

/* Unix sockets take file permissions instead (engine/helper/authorisation.ts). */
void io_register_pipe(napi_env env, napi_value exports) {}

#endif
