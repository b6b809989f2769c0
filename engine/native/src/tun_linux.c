/*
 * Linux TUN: /dev/net/tun with IFF_TUN | IFF_NO_PI, so reads and writes are bare IP packets.
 * The engine creates the interface and sets its MTU; addresses, routes and "up" are done by
 * whoever started it (wg-quick, ip, the helper), as with wireguard-go.
 *
 * Offloads. With IFF_VNET_HDR every packet carries a 10-byte virtio_net_hdr, and with
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) the kernel may hand us TCP packets of up
 * to 64 KiB (one "super-packet" per TCP send, gso_size saying the segment size) and packets
 * whose TCP/UDP checksum is left to us (NEEDS_CSUM). The local TCP stack then walks its send
 * path once per super-packet instead of once per segment, and we read once instead of dozens
 * of times; on this two-core machine that CPU goes to everything else on the path. Here the
 * super-packet is cut into the segments the kernel would have made (headers copied, lengths,
 * IPv4 ID, sequence numbers, FIN/PSH/CWR and both checksums fixed), handed out one per
 * tun_platform_read call, so the rest of the engine only ever sees ordinary packets of at most
 * the MTU. Writes carry an all-zero header (no offload asked of the kernel).
 *
 * WIRELANE_TUN_OFFLOAD=0 in the environment turns this off (plain reads and writes).
 */
#ifdef __linux__

#include "tun_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr))
/* The largest IP packet, and so the largest super-packet. */
#define MAX_IP_PACKET 65535
/* Offload state is kept per fd in a small table; fds beyond it simply go without offloads. */
#define MAX_OFFLOAD_FDS 1024

typedef struct offload_state {
  uint8_t *scratch; /* the virtio header, then the packet as read */
  /* The super-packet being cut into segments; len 0 when none is pending. */
  size_t len;        /* packet bytes after the virtio header */
  size_t header_len; /* IP + TCP header bytes copied into every segment */
  size_t next;       /* offset of the next segment's payload */
  uint32_t index;    /* segments handed out so far */
  uint16_t segment_size;
  uint16_t transport; /* offset of the TCP header */
  int ipv6;
} offload_state;

static offload_state *states[MAX_OFFLOAD_FDS];

static offload_state *state_of(int fd) { return fd >= 0 && fd < MAX_OFFLOAD_FDS ? states[fd] : NULL; }

static int offload_wanted(void) {
  const char *setting = getenv("WIRELANE_TUN_OFFLOAD");
  return setting == NULL || strcmp(setting, "0") != 0;
}

static int open_device(const char *requested, char *name, size_t name_size, int want_vnet) {
  struct ifreq ifr;
  int fd, err, vnet;
  if (strlen(requested) >= IFNAMSIZ) return -ENAMETOOLONG;
  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  vnet = want_vnet && fd < MAX_OFFLOAD_FDS;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, requested, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    err = errno;
    close(fd);
    return -err;
  }
  strncpy(name, ifr.ifr_name, name_size - 1);
  name[name_size - 1] = '\0';
  if (vnet) {
    offload_state *st = calloc(1, sizeof *st);
    int size = VNET_HDR_LEN;
    if (st != NULL) st->scratch = malloc(VNET_HDR_LEN + MAX_IP_PACKET);
    if (st == NULL || st->scratch == NULL || ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
      /* Without the state we cannot strip the headers: start over without them. */
      if (st != NULL) free(st->scratch);
      free(st);
      close(fd);
      return -EAGAIN;
    }
    /* If the kernel refuses the offloads, packets still carry the (then always empty) header. */
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) ioctl(fd, TUNSETOFFLOAD, 0);
    states[fd] = st;
  }
  return fd;
}

int tun_platform_open(const char *requested, char *name, size_t name_size) {
  int fd = offload_wanted() ? open_device(requested, name, name_size, 1) : -EAGAIN;
  return fd == -EAGAIN ? open_device(requested, name, name_size, 0) : fd;
}

/* The Internet checksum's running sum over `len` bytes (RFC 1071), big-endian words. */
static uint64_t checksum_add(uint64_t sum, const uint8_t *data, size_t len) {
  while (len >= 2) {
    sum += (uint32_t)data[0] << 8 | data[1];
    data += 2;
    len -= 2;
  }
  if (len) sum += (uint32_t)data[0] << 8;
  return sum;
}

static uint16_t checksum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)(value >> 8);
  at[1] = (uint8_t)value;
}

/* NEEDS_CSUM: the field at start+offset holds the pseudo-header sum; sum from `start` to the end. */
static int complete_checksum(uint8_t *packet, size_t len, size_t start, size_t offset) {
  uint16_t result;
  if (start + offset + 2 > len) return -1;
  result = checksum_fold(checksum_add(0, packet + start, len - start));
  if (result == 0 && offset == 6) result = 0xffff; /* UDP: 0 would mean "no checksum" */
  put16(packet + start + offset, result);
  return 0;
}

/* Cuts the next segment of the pending super-packet into buf; returns its length or -errno. */
static ssize_t next_segment(offload_state *st, unsigned char *buf, size_t capacity) {
  const uint8_t *packet = st->scratch + VNET_HDR_LEN;
  size_t payload = st->len - st->next < st->segment_size ? st->len - st->next : st->segment_size;
  size_t length = st->header_len + payload, transport_len = length - st->transport;
  int last = st->next + payload >= st->len;
  uint8_t *ip = buf, *tcp = buf + st->transport;
  uint32_t seq;
  uint64_t sum;
  if (length > capacity) {
    st->len = 0; /* segments larger than a slot: drop the whole super-packet */
    return -EMSGSIZE;
  }
  memcpy(buf, packet, st->header_len);
  memcpy(buf + st->header_len, packet + st->next, payload);
  if (!st->ipv6) {
    put16(ip + 2, (uint32_t)length);
    put16(ip + 4, (((uint32_t)packet[4] << 8 | packet[5]) + st->index) & 0xffff);
    put16(ip + 10, 0);
    put16(ip + 10, checksum_fold(checksum_add(0, ip, st->transport)));
    sum = checksum_add(0, ip + 12, 8); /* source and destination */
  } else {
    put16(ip + 4, (uint32_t)(length - 40));
    sum = checksum_add(0, ip + 8, 32);
  }
  seq = ((uint32_t)packet[st->transport + 4] << 24 | (uint32_t)packet[st->transport + 5] << 16 |
         (uint32_t)packet[st->transport + 6] << 8 | packet[st->transport + 7]) +
        (uint32_t)(st->next - st->header_len);
  tcp[4] = (uint8_t)(seq >> 24);
  tcp[5] = (uint8_t)(seq >> 16);
  tcp[6] = (uint8_t)(seq >> 8);
  tcp[7] = (uint8_t)seq;
  if (!last) tcp[13] &= (uint8_t)~0x09; /* FIN and PSH only on the last segment */
  if (st->index > 0) tcp[13] &= (uint8_t)~0x80; /* CWR only on the first */
  put16(tcp + 16, 0);
  sum += 6 + (uint32_t)transport_len; /* pseudo-header: protocol and TCP length */
  put16(tcp + 16, checksum_fold(checksum_add(sum, tcp, transport_len)));
  st->next += payload;
  st->index++;
  if (last) st->len = 0;
  return (ssize_t)length;
}

/* Takes a super-packet of `len` bytes in scratch as pending; 0 if it is usable, -1 to drop it. */
static int start_segments(offload_state *st, const struct virtio_net_hdr *hdr, size_t len) {
  const uint8_t *packet = st->scratch + VNET_HDR_LEN;
  uint8_t gso_type = hdr->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  size_t transport = hdr->csum_start, tcp_len;
  int ipv6 = gso_type == VIRTIO_NET_HDR_GSO_TCPV6;
  if (gso_type != VIRTIO_NET_HDR_GSO_TCPV4 && !ipv6) return -1;
  if (hdr->gso_size == 0 || len < 1 || (packet[0] >> 4) != (ipv6 ? 6 : 4)) return -1;
  if (ipv6 ? (transport != 40 || packet[6] != 6) : (transport != (size_t)(packet[0] & 0x0f) * 4 || transport < 20 || packet[9] != 6))
    return -1;
  if (transport + 20 > len) return -1;
  tcp_len = (size_t)(packet[transport + 12] >> 4) * 4;
  if (tcp_len < 20 || transport + tcp_len > len) return -1;
  st->len = len;
  st->transport = (uint16_t)transport;
  st->header_len = transport + tcp_len;
  st->next = st->header_len;
  st->index = 0;
  st->segment_size = hdr->gso_size;
  st->ipv6 = ipv6;
  if (st->next >= st->len) st->len = 0; /* no payload: nothing to cut */
  return st->len > 0 ? 0 : -1;
}

ssize_t tun_platform_read(int fd, unsigned char *buf, size_t capacity) {
  offload_state *st = state_of(fd);
  struct virtio_net_hdr hdr;
  ssize_t n;
  size_t len;
  if (st == NULL) {
    for (;;) {
      n = read(fd, buf, capacity);
      if (n >= 0) return n;
      if (errno != EINTR) return -errno;
    }
  }
  if (st->len > 0) return next_segment(st, buf, capacity);
  do n = read(fd, st->scratch, VNET_HDR_LEN + MAX_IP_PACKET);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n <= VNET_HDR_LEN) return 0;
  memcpy(&hdr, st->scratch, sizeof hdr);
  len = (size_t)n - VNET_HDR_LEN;
  if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
    if (start_segments(st, &hdr, len) != 0) return 0; /* not a TCP super-packet we can cut: dropped */
    return next_segment(st, buf, capacity);
  }
  if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && complete_checksum(st->scratch + VNET_HDR_LEN, len, hdr.csum_start, hdr.csum_offset) != 0)
    return 0;
  if (len > capacity) return -EMSGSIZE;
  memcpy(buf, st->scratch + VNET_HDR_LEN, len);
  return (ssize_t)len;
}

int tun_platform_pending(int fd) {
  offload_state *st = state_of(fd);
  return st != NULL && st->len > 0;
}

int tun_platform_write(int fd, const unsigned char *packet, size_t len) {
  static const struct virtio_net_hdr empty; /* no offload asked: the kernel checks as usual */
  offload_state *st = state_of(fd);
  struct iovec iov[2];
  iov[0].iov_base = (void *)&empty;
  iov[0].iov_len = VNET_HDR_LEN;
  iov[1].iov_base = (void *)packet;
  iov[1].iov_len = len;
  for (;;) {
    ssize_t n = st != NULL ? writev(fd, iov, 2) : write(fd, packet, len);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

int tun_platform_close(int fd) {
  offload_state *st = state_of(fd);
  if (st != NULL) {
    free(st->scratch);
    free(st);
    states[fd] = NULL;
  }
  return close(fd);
}

#endif
