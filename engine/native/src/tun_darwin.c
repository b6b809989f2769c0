/*
 * macOS utun: a kernel control socket. Every packet carries a 4-byte header in front holding
 * the address family in network byte order (AF_INET or AF_INET6); we strip it on read and add
 * it on write with readv/writev, so the slots the engine sees hold bare IP packets.
 *
 * Names: "utun" lets the kernel pick the unit (sc_unit 0); "utunN" asks for unit N (sc_unit
 * N+1). The kernel names the interface; we read it back with UTUN_OPT_IFNAME.
 *
 * For the engine command (not done here): wg-quick on macOS starts the userspace
 * implementation with the interface name "utun" and the environment variable
 * WG_TUN_NAME_FILE=/var/run/wireguard/<config name>.name; wireguard-go writes the real utunN
 * name into that file once the device exists, removes the file on exit, and names its UAPI
 * socket /var/run/wireguard/utunN.sock. wirelane-engine must do the same.
 */
#ifdef __APPLE__

#include "tun_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_utun.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <sys/sys_domain.h>
#include <sys/uio.h>
#include <unistd.h>

static int parse_unit(const char *requested, uint32_t *unit) {
  char *end = NULL;
  unsigned long number;
  if (strcmp(requested, "utun") == 0) {
    *unit = 0; /* the kernel picks */
    return 0;
  }
  if (strncmp(requested, "utun", 4) != 0 || requested[4] == '\0') return -EINVAL;
  number = strtoul(requested + 4, &end, 10);
  if (*end != '\0' || number > 65534) return -EINVAL;
  *unit = (uint32_t)number + 1;
  return 0;
}

int tun_platform_open(const char *requested, char *name, size_t name_size) {
  struct ctl_info info;
  struct sockaddr_ctl address;
  socklen_t name_len = (socklen_t)name_size;
  uint32_t unit;
  int fd, err = parse_unit(requested, &unit);
  if (err != 0) return err; /* macOS only allows utun interfaces named utunN */
  fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) return -errno;
  memset(&info, 0, sizeof info);
  strncpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof info.ctl_name - 1); /* "com.apple.net.utun_control" */
  if (ioctl(fd, CTLIOCGINFO, &info) < 0) goto fail;
  memset(&address, 0, sizeof address);
  address.sc_len = sizeof address;
  address.sc_family = AF_SYSTEM;
  address.ss_sysaddr = AF_SYS_CONTROL;
  address.sc_id = info.ctl_id;
  address.sc_unit = unit;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) goto fail;
  if (getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, &name_len) < 0) goto fail;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    goto fail;
  return fd;
fail:
  err = errno;
  close(fd);
  return -err;
}

ssize_t tun_platform_read(int fd, unsigned char *buf, size_t capacity) {
  uint32_t family;
  struct iovec parts[2] = {{&family, sizeof family}, {buf, capacity}};
  for (;;) {
    ssize_t n = readv(fd, parts, 2);
    if (n >= (ssize_t)sizeof family) return n - (ssize_t)sizeof family;
    if (n >= 0) return 0; /* a runt without a family header: deliver nothing */
    if (errno != EINTR) return -errno;
  }
}

int tun_platform_write(int fd, const unsigned char *packet, size_t len) {
  uint32_t family;
  struct iovec parts[2];
  if (len < 1) return -EINVAL;
  switch (packet[0] >> 4) {
    case 4: family = htonl(AF_INET); break;
    case 6: family = htonl(AF_INET6); break;
    default: return -EAFNOSUPPORT;
  }
  parts[0].iov_base = &family;
  parts[0].iov_len = sizeof family;
  parts[1].iov_base = (void *)packet;
  parts[1].iov_len = len;
  for (;;) {
    if (writev(fd, parts, 2) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

uint32_t tun_platform_write_batch(int fd, uint8_t *data, size_t data_len, const int32_t *offsets,
                                  const int32_t *lengths, uint32_t count, uint32_t *dropped,
                                  uint32_t *coalesced) {
  uint32_t written = 0;
  (void)coalesced; /* utun takes no offloads */
  for (uint32_t i = 0; i < count; i++) {
    int32_t offset = offsets[i], length = lengths[i];
    if (offset < 0 || length <= 0 || (size_t)offset + (size_t)length > data_len ||
        tun_platform_write(fd, data + offset, (size_t)length) != 0)
      (*dropped)++;
    else
      written++;
  }
  return written;
}

int tun_platform_pending(int fd) {
  (void)fd;
  return 0; /* utun hands over plain packets only */
}

int tun_platform_close(int fd) { return close(fd); }

#endif
