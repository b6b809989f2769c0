/*
 * Peer credentials of a connected Unix stream socket, for the helper's second authorisation
 * check (engine/helper/authorisation.ts): the kernel records who called connect(2), and the
 * helper asks it instead of trusting anything the client says.
 *
 * - Linux: getsockopt(SOL_SOCKET, SO_PEERCRED) gives a struct ucred {pid, uid, gid}, "the
 *   credentials that were in effect at the time of the call to connect(2)" (unix(7)); uid and
 *   gid are the effective ones.
 * - macOS: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) gives a struct xucred whose cr_uid is the
 *   effective uid and cr_groups[0] the effective gid; LOCAL_PEERPID gives the pid.
 *
 * Only Unix sockets carry credentials: on Linux SO_PEERCRED answers for any socket, with uid
 * and gid (uid_t)-1 when there is no peer, so the family is checked first and -1 is refused,
 * never handed to JavaScript as a number that could be mistaken for a user.
 */
#ifndef _WIN32

#include "io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef __APPLE__
#include <sys/ucred.h>
#endif

typedef struct peer_credentials {
  uid_t uid;
  gid_t gid;
  pid_t pid;
} peer_credentials;

/* 0, or an errno value. */
static int read_peer_credentials(int fd, peer_credentials *out) {
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  memset(&local, 0, sizeof local);
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return errno;
  if (local.ss_family != AF_UNIX) return EAFNOSUPPORT;
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return errno;
  if (len != sizeof cred) return EINVAL;
  out->uid = cred.uid;
  out->gid = cred.gid;
  out->pid = cred.pid;
#elif defined(__APPLE__)
  struct xucred cred;
  socklen_t len = sizeof cred;
  pid_t pid = 0;
  socklen_t pid_len = sizeof pid;
  memset(&cred, 0, sizeof cred);
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &cred, &len) != 0) return errno;
  if (cred.cr_version != XUCRED_VERSION || cred.cr_ngroups < 1) return EINVAL;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &pid_len) != 0) return errno;
  out->uid = cred.cr_uid;
  out->gid = cred.cr_groups[0];
  out->pid = pid;
#else
  (void)fd;
  return ENOSYS;
#endif
  /* No peer (not connected, or the kernel has no record): nothing to vouch for anyone. */
  if (out->uid == (uid_t)-1 || out->gid == (gid_t)-1) return ENOTCONN;
  return 0;
}

/* peerCredentials(fd) -> {uid, gid, pid}; throws with the errno name ("ENOTSOCK", ...). */
static napi_value js_peer_credentials(napi_env env, napi_callback_info info) {
  napi_value args[1], out;
  int32_t fd;
  peer_credentials cred;
  int err;
  if (!io_args(env, info, 1, args, NULL) || !io_get_i32(env, args[0], &fd)) return NULL;
  IO_CHECK_ARG(env, fd >= 0, "wirelane_io: peerCredentials needs an open file descriptor");
  memset(&cred, 0, sizeof cred);
  err = read_peer_credentials(fd, &cred);
  if (err != 0) {
    io_throw_errno(env, err, "peer credentials of a Unix socket");
    return NULL;
  }
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "uid", io_number(env, (double)cred.uid));
  napi_set_named_property(env, out, "gid", io_number(env, (double)cred.gid));
  napi_set_named_property(env, out, "pid", io_number(env, (double)cred.pid));
  return out;
}

void io_register_peercred(napi_env env, napi_value exports) {
  io_export(env, exports, "peerCredentials", js_peer_credentials);
}

#endif
