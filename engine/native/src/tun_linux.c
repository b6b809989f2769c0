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
  int coalesce; /* TUN writes coalesce TCP segments (see tun_platform_write_batch) */
} offload_state;

static offload_state *states[MAX_OFFLOAD_FDS];

static offload_state *state_of(int fd) { return fd >= 0 && fd < MAX_OFFLOAD_FDS ? states[fd] : NULL; }

static int offload_wanted(void) {
  const char *setting = getenv("WIRELANE_TUN_OFFLOAD");
  return setting == NULL || strcmp(setting, "0") != 0;
}

static int coalescing_wanted(void) {
  const char *setting = getenv("WIRELANE_TUN_GRO");
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
  /* IFF_TUN_EXCL: never attach to a device that exists already (EBUSY; see tun-linux.ts). */
  ifr.ifr_flags = IFF_TUN | IFF_TUN_EXCL | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
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
    else st->coalesce = coalescing_wanted();
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

/*
 * Receive-side coalescing (GRO) for TUN writes.
 *
 * A bulk TCP download arrives as a run of segments of one flow, each its own datagram. Written
 * one by one, the kernel runs its receive path (netif_rx, IP, TCP, socket wake-up) once per
 * segment. Instead, consecutive segments of a flow in one batch are written as one TCP
 * super-packet with a virtio_net_hdr saying GSO_TCPV4/TCPV6 and the segment size, which the
 * kernel treats as if its own GRO had merged them: one trip up the stack for up to 64.
 *
 * The rules are the kernel's GRO rules (net/ipv4/tcp_offload.c, as wireguard-go's
 * tun/offload_linux.go also follows them): same addresses, ports and ACK number, same TCP
 * header length and options, equal IP TOS/TTL/DF (traffic class and hop limit for IPv6), no IP
 * options or fragments, flags ACK or ACK|PSH only, each segment's sequence number right after
 * the previous one, no segment larger than the first, nothing after a shorter segment or one
 * with PSH (which the super-packet then carries). The super-packet goes up with NEEDS_CSUM, so
 * the kernel will not check the TCP checksum again: each segment's checksum is checked here
 * before it is merged, and one that fails is written alone, where the kernel drops it as it
 * would have anyway. Segments are gathered with writev straight from the batch buffer; only the
 * first segment's headers are rewritten (lengths, IPv4 header checksum, the TCP checksum field
 * set to the pseudo-header sum NEEDS_CSUM expects).
 *
 * WIRELANE_TUN_GRO=0 turns coalescing off (for comparisons).
 */
#define GRO_CHUNK 256       /* packets considered together (one pass of the tables below) */
#define GRO_MAX_SEGMENTS 64 /* segments per super-packet, as the kernel's own GRO */
#define GRO_OPEN_FLOWS 8    /* flows a packet is matched against (the most recent ones) */
#define GRO_MAX_BYTES 65535 /* an IP packet's largest total length */

typedef struct gro_item {
  uint32_t head;      /* index of the first segment in the chunk */
  uint32_t tail;      /* index of the last one merged */
  uint32_t segments;
  uint32_t next_seq;  /* the sequence number the next segment must carry */
  uint32_t total;     /* bytes of the super-packet so far */
  uint16_t gso_size;  /* payload bytes of the first segment */
  uint16_t ip_len;
  uint16_t tcp_len;
  uint8_t ipv6;
  uint8_t closed;     /* a PSH or short segment ended it */
  uint8_t psh;
  uint8_t head_checked;
} gro_item;

enum { GRO_PLAIN = 0, GRO_HEAD = 1, GRO_MERGED = 2 };

/* Ones' complement sum of `len` bytes, accumulated in native byte order (RFC 1071 §2(B)). */
static uint64_t sum_native(const uint8_t *p, size_t len, uint64_t sum) {
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    sum += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len) sum += *p;
#else
  if (len) sum += (uint32_t)*p << 8;
#endif
  return sum;
}

/* Folds a native-order sum to 16 bits, as the big-endian value the wire carries. */
static uint32_t fold_to_wire(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sum = ((sum & 0xff) << 8) | (sum >> 8);
#endif
  return (uint32_t)sum;
}

static uint32_t fold16(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

/* The TCP pseudo-header's sum (addresses, protocol, TCP length), folded, not complemented. */
static uint32_t pseudo_header_sum(const uint8_t *ip, int ipv6, uint32_t tcp_length) {
  uint32_t addresses = fold_to_wire(ipv6 ? sum_native(ip + 8, 32, 0) : sum_native(ip + 12, 8, 0));
  return fold16(addresses + 6 + tcp_length);
}

/* Whether the TCP checksum of the packet verifies. */
static int tcp_checksum_ok(const uint8_t *ip, size_t len, size_t ip_len, int ipv6) {
  uint32_t sum = pseudo_header_sum(ip, ipv6, (uint32_t)(len - ip_len));
  sum = fold16(sum + fold_to_wire(sum_native(ip + ip_len, len - ip_len, 0)));
  return sum == 0xffff;
}

static uint32_t get32(const uint8_t *at) {
  return (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
}

/*
 * Whether the packet is a TCP segment GRO may merge; fills the header lengths. Needs the IP
 * length field to match the packet (the device trims padding before writing).
 */
static int gro_candidate(const uint8_t *p, size_t len, uint16_t *ip_len, uint16_t *tcp_len, int *ipv6) {
  size_t iph, tcph;
  uint8_t flags;
  if (len < 40 || len > GRO_MAX_BYTES) return 0;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != 6) return 0;                     /* options, or not TCP */
    if ((p[6] & 0x3f) != 0 || p[7] != 0) return 0;               /* a fragment */
    if (((size_t)p[2] << 8 | p[3]) != len) return 0;
    iph = 20;
    *ipv6 = 0;
  } else if ((p[0] >> 4) == 6) {
    if (p[6] != 6 || len < 60 || ((size_t)p[4] << 8 | p[5]) + 40 != len) return 0;
    iph = 40;
    *ipv6 = 1;
  } else {
    return 0;
  }
  tcph = (size_t)(p[iph + 12] >> 4) * 4;
  if (tcph < 20 || iph + tcph >= len) return 0; /* no payload: nothing to merge */
  flags = p[iph + 13];
  if (flags != 0x10 && flags != 0x18) return 0; /* ACK, or ACK|PSH */
  *ip_len = (uint16_t)iph;
  *tcp_len = (uint16_t)tcph;
  return 1;
}

/* Whether packet `p` belongs to the flow of `item`'s head `h` (all but the sequence number). */
static int gro_same_flow(const uint8_t *h, const uint8_t *p, const gro_item *item, uint16_t tcp_len, int ipv6) {
  size_t t = item->ip_len;
  if (ipv6 != item->ipv6 || tcp_len != item->tcp_len) return 0;
  if (ipv6) {
    if (memcmp(h + 8, p + 8, 32) != 0) return 0;
    if (h[0] != p[0] || (h[1] >> 4) != (p[1] >> 4) || h[7] != p[7]) return 0; /* class, hop limit */
  } else {
    if (memcmp(h + 12, p + 12, 8) != 0) return 0;
    if (h[1] != p[1] || (h[6] >> 5) != (p[6] >> 5) || h[8] != p[8]) return 0; /* TOS, DF, TTL */
  }
  if (memcmp(h + t, p + t, 4) != 0) return 0;       /* ports */
  if (memcmp(h + t + 8, p + t + 8, 4) != 0) return 0; /* ACK number */
  return tcp_len == 20 || memcmp(h + t + 20, p + t + 20, tcp_len - 20u) == 0; /* options */
}

static int write_iov(int fd, struct iovec *iov, int n) {
  for (;;) {
    if (writev(fd, iov, n) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

/* Writes one super-packet made of `item`'s segments; returns 0 or -errno. */
static int write_coalesced(int fd, uint8_t *data, const int32_t *offsets, const int32_t *lengths,
                           const int16_t *next, const gro_item *item) {
  struct virtio_net_hdr hdr;
  struct iovec iov[GRO_MAX_SEGMENTS + 1];
  uint8_t *ip = data + offsets[item->head];
  uint8_t *tcp = ip + item->ip_len;
  size_t headers = (size_t)item->ip_len + item->tcp_len;
  int n = 0;
  memset(&hdr, 0, sizeof hdr);
  hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr.gso_type = item->ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  hdr.hdr_len = (uint16_t)headers;
  hdr.gso_size = item->gso_size;
  hdr.csum_start = item->ip_len;
  hdr.csum_offset = 16;
  if (item->ipv6) {
    put16(ip + 4, item->total - 40);
  } else {
    put16(ip + 2, item->total);
    put16(ip + 10, 0);
    put16(ip + 10, checksum_fold(checksum_add(0, ip, 20)));
  }
  if (item->psh) tcp[13] |= 0x08;
  put16(tcp + 16, pseudo_header_sum(ip, item->ipv6, item->total - item->ip_len));
  iov[n].iov_base = &hdr;
  iov[n++].iov_len = VNET_HDR_LEN;
  iov[n].iov_base = ip;
  iov[n++].iov_len = (size_t)lengths[item->head];
  for (int32_t i = next[item->head]; i >= 0; i = next[i]) {
    iov[n].iov_base = data + offsets[i] + headers;
    iov[n++].iov_len = (size_t)lengths[i] - headers;
  }
  return write_iov(fd, iov, n);
}

/* One chunk of at most GRO_CHUNK packets, all already checked to lie inside the buffer. */
static uint32_t write_chunk_coalesced(int fd, uint8_t *data, const int32_t *offsets, const int32_t *lengths,
                                      uint32_t count, uint32_t *dropped, uint32_t *coalesced) {
  int16_t next[GRO_CHUNK];
  uint8_t role[GRO_CHUNK];
  int16_t item_of[GRO_CHUNK];
  gro_item items[GRO_CHUNK];
  uint32_t item_count = 0, written = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *p = data + offsets[i];
    size_t len = (size_t)lengths[i];
    uint16_t ip_len, tcp_len;
    int ipv6, merged = 0;
    next[i] = -1;
    role[i] = GRO_PLAIN;
    if (!gro_candidate(p, len, &ip_len, &tcp_len, &ipv6)) continue;
    {
      uint32_t payload = (uint32_t)(len - ip_len - tcp_len);
      uint32_t seq = get32(p + ip_len + 4);
      uint32_t first = item_count > GRO_OPEN_FLOWS ? item_count - GRO_OPEN_FLOWS : 0;
      for (uint32_t k = item_count; k-- > first;) {
        gro_item *item = &items[k];
        const uint8_t *h = data + offsets[item->head];
        if (!gro_same_flow(h, p, item, tcp_len, ipv6)) continue;
        if (item->closed || seq != item->next_seq || payload > item->gso_size ||
            item->segments >= GRO_MAX_SEGMENTS || item->total + payload > GRO_MAX_BYTES)
          break; /* the newest item of this flow cannot take it: start a new one */
        if (!item->head_checked) {
          item->head_checked = 1;
          if (!tcp_checksum_ok(h, (size_t)lengths[item->head], item->ip_len, item->ipv6)) {
            item->closed = 1; /* the head goes alone, and the kernel drops it */
            break;
          }
        }
        if (!tcp_checksum_ok(p, len, ip_len, ipv6)) {
          merged = -1; /* written alone, never merged */
          break;
        }
        next[item->tail] = (int16_t)i;
        item->tail = i;
        item->segments++;
        item->total += payload;
        item->next_seq = seq + payload;
        if (p[ip_len + 13] & 0x08) item->psh = item->closed = 1;
        if (payload < item->gso_size) item->closed = 1;
        role[i] = GRO_MERGED;
        merged = 1;
        break;
      }
      if (merged != 0) continue;
      {
        gro_item *item = &items[item_count];
        item->head = i;
        item->tail = i;
        item->segments = 1;
        item->next_seq = seq + payload;
        item->total = (uint32_t)len;
        item->gso_size = (uint16_t)payload;
        item->ip_len = ip_len;
        item->tcp_len = tcp_len;
        item->ipv6 = (uint8_t)ipv6;
        item->psh = (p[ip_len + 13] & 0x08) != 0;
        item->closed = item->psh;
        item->head_checked = 0;
        role[i] = GRO_HEAD;
        item_of[i] = (int16_t)item_count++;
      }
    }
  }
  for (uint32_t i = 0; i < count; i++) {
    int err;
    if (role[i] == GRO_MERGED) continue;
    if (role[i] == GRO_HEAD && items[item_of[i]].segments > 1) {
      const gro_item *item = &items[item_of[i]];
      err = write_coalesced(fd, data, offsets, lengths, next, item);
      if (err == 0) {
        written += item->segments;
        *coalesced += item->segments;
      } else {
        *dropped += item->segments;
      }
      continue;
    }
    err = tun_platform_write(fd, data + offsets[i], (size_t)lengths[i]);
    if (err == 0) written++;
    else (*dropped)++;
  }
  return written;
}

uint32_t tun_platform_write_batch(int fd, uint8_t *data, size_t data_len, const int32_t *offsets,
                                  const int32_t *lengths, uint32_t count, uint32_t *dropped,
                                  uint32_t *coalesced) {
  offload_state *st = state_of(fd);
  int32_t chunk_offsets[GRO_CHUNK], chunk_lengths[GRO_CHUNK];
  uint32_t written = 0;
  if (st == NULL || !st->coalesce) {
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
  for (uint32_t start = 0; start < count;) {
    uint32_t n = 0;
    while (start < count && n < GRO_CHUNK) {
      int32_t offset = offsets[start], length = lengths[start];
      start++;
      if (offset < 0 || length <= 0 || (size_t)offset + (size_t)length > data_len) {
        (*dropped)++;
        continue;
      }
      chunk_offsets[n] = offset;
      chunk_lengths[n++] = length;
    }
    written += write_chunk_coalesced(fd, data, chunk_offsets, chunk_lengths, n, dropped, coalesced);
  }
  return written;
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
