/*
 * Linux TUN: /dev/net/tun with IFF_TUN | IFF_NO_PI, so reads and writes are bare IP packets.
 * The engine creates the interface and sets its MTU; addresses, routes and "up" are done by
 * whoever started it (wg-quick, ip, the helper), as with wireguard-go.
 */
#ifdef __linux__

#include "tun_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tun_platform_open(const char *requested, char *name, size_t name_size) {
  struct ifreq ifr;
  int fd, err;
  if (strlen(requested) >= IFNAMSIZ) return -ENAMETOOLONG;
  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, requested, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    err = errno;
    close(fd);
    return -err;
  }
  strncpy(name, ifr.ifr_name, name_size - 1);
  name[name_size - 1] = '\0';
  return fd;
}

ssize_t tun_platform_read(int fd, unsigned char *buf, size_t capacity) {
  for (;;) {
    ssize_t n = read(fd, buf, capacity);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

int tun_platform_write(int fd, const unsigned char *packet, size_t len) {
  for (;;) {
    ssize_t n = write(fd, packet, len);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

#endif
