/*
 * The platform half of a file-descriptor TUN (Linux /dev/net/tun, macOS utun); tun_posix.c
 * holds the half they share (event-loop polling, batching, MTU ioctls, the JS functions).
 */
#ifndef WIRELANE_TUN_POSIX_H
#define WIRELANE_TUN_POSIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Opens (creating if needed) the TUN interface `requested`, non-blocking and close-on-exec.
 * Writes the name the OS gave into `name` (IFNAMSIZ bytes). Returns the fd, or -errno.
 */
int tun_platform_open(const char *requested, char *name, size_t name_size);

/* Reads one packet into buf[0..capacity). Returns its length, or -errno (-EAGAIN when drained). */
ssize_t tun_platform_read(int fd, unsigned char *buf, size_t capacity);

/* Writes one IP packet. Returns 0, or -errno. */
int tun_platform_write(int fd, const unsigned char *packet, size_t len);

/*
 * Writes `count` packets located by offsets/lengths in data[0..data_len) (entries outside it
 * are dropped); returns how many were written and adds the rest to *dropped, and the packets
 * written as parts of merged writes to *coalesced. Linux may merge
 * consecutive TCP segments of a flow into one write (see tun_linux.c) and rewrites their
 * headers in the buffer while doing so.
 */
uint32_t tun_platform_write_batch(int fd, uint8_t *data, size_t data_len, const int32_t *offsets,
                                  const int32_t *lengths, uint32_t count, uint32_t *dropped,
                                  uint32_t *coalesced);

/*
 * Whether tun_platform_read has packets of its own still to hand out without reading the fd
 * (Linux: segments of a TCP super-packet, see tun_linux.c). Readers must come back for them
 * even when the fd is not readable.
 */
int tun_platform_pending(int fd);

/* Closes the fd and frees whatever the platform kept for it. */
int tun_platform_close(int fd);

#endif
