/*
 * The cheap path of a WireGuard responder (whitepaper §5.3), for a whole received batch at once.
 *
 * Anyone who knows a device's public key can send it handshake initiations with a valid mac1 at
 * line rate. Each costs the device one BLAKE2s when it is not under load, and, once it is, one
 * more BLAKE2s for mac2 and a cookie reply (a BLAKE2s and an XChaCha20-Poly1305 of 16 bytes) -
 * but never a Diffie-Hellman. In JavaScript those few microseconds per message, plus an object
 * and a call each, were most of what a flood of 60,000 a second cost; here they are a loop over
 * the batch with no allocation. engine/device/handshake-filter.ts holds the JavaScript
 * equivalent (for builds without the addon) and the contract both keep.
 *
 * For each handshake message of the batch (by index), the filter decides:
 *   - wrong size for its type, or no private key: dropped;
 *   - mac1 = MAC(HASH("mac1----" || our public key), msg up to mac1) wrong: dropped;
 *   - under load (more than `threshold` handshake messages arrived in the current window of
 *     `under_load_ms`, a batch counting as arrived whole, or the slow path's queue holds
 *     `threshold`; it then stays so for
 *     `under_load_ms`, as wireguard-go decides it): mac2 = MAC(cookie, msg up to mac2) must be
 *     valid, with cookie = MAC(secret, source IP || source port) under a secret drawn at the first
 *     reply and redrawn every `cookie_refresh_ms`; without it a cookie reply is written;
 *   - otherwise it goes to the slow path (the rate limiter first when mac2 was required).
 * Cookie reply messages (type 3) carry no macs: they are only size-checked.
 *
 * BLAKE2s is RFC 7693's; ChaCha20, HChaCha20 and Poly1305 are RFC 8439's and XChaCha20 is
 * draft-irtf-cfrg-xchacha's, written out here because the addon cannot reach the copy inside
 * sodium-native. Unit tests check them against @noble/hashes and @noble/ciphers.
 */
#include "io.h"

#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
/* RtlGenRandom, exported by advapi32 (linked already) under this name. */
BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);
#elif defined(__APPLE__)
#include <stdlib.h> /* arc4random_buf */
#else
#include <errno.h>
#include <sys/random.h>
#endif

#define MESSAGE_INITIATION 1
#define MESSAGE_RESPONSE 2
#define MESSAGE_COOKIE_REPLY 3
#define INITIATION_SIZE 148
#define RESPONSE_SIZE 92
#define COOKIE_REPLY_SIZE 64
#define MAC_SIZE 16

/* Verdicts, as engine/device/handshake-filter.ts names them. */
enum {
  VERDICT_PASS = 1,
  VERDICT_PROVEN = 2,
  VERDICT_BAD_SIZE = 3,
  VERDICT_BAD_MAC1 = 4,
  VERDICT_COOKIE_REPLY = 5,
  VERDICT_NO_KEY = 6,
};

/* ---- BLAKE2s (RFC 7693) ---------------------------------------------------------------------- */

typedef struct {
  uint32_t h[8];
  uint32_t t;
  uint8_t block[64];
  size_t filled;
  size_t out_len;
} blake2s_state;

static const uint32_t blake2s_iv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

static const uint8_t blake2s_sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static inline uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t rotr32(uint32_t v, int n) { return (v >> n) | (v << (32 - n)); }
static inline uint32_t rotl32(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void blake2s_compress(blake2s_state *s, const uint8_t *block, int last) {
  uint32_t m[16], v[16];
  for (int i = 0; i < 16; i++) m[i] = load32(block + 4 * i);
  for (int i = 0; i < 8; i++) {
    v[i] = s->h[i];
    v[i + 8] = blake2s_iv[i];
  }
  v[12] ^= s->t; /* the high word of the counter stays 0: messages here are far below 4 GiB */
  if (last) v[14] = ~v[14];
#define G(a, b, c, d, x, y)            \
  do {                                 \
    v[a] = v[a] + v[b] + (x);          \
    v[d] = rotr32(v[d] ^ v[a], 16);    \
    v[c] = v[c] + v[d];                \
    v[b] = rotr32(v[b] ^ v[c], 12);    \
    v[a] = v[a] + v[b] + (y);          \
    v[d] = rotr32(v[d] ^ v[a], 8);     \
    v[c] = v[c] + v[d];                \
    v[b] = rotr32(v[b] ^ v[c], 7);     \
  } while (0)
  for (int r = 0; r < 10; r++) {
    const uint8_t *z = blake2s_sigma[r];
    G(0, 4, 8, 12, m[z[0]], m[z[1]]);
    G(1, 5, 9, 13, m[z[2]], m[z[3]]);
    G(2, 6, 10, 14, m[z[4]], m[z[5]]);
    G(3, 7, 11, 15, m[z[6]], m[z[7]]);
    G(0, 5, 10, 15, m[z[8]], m[z[9]]);
    G(1, 6, 11, 12, m[z[10]], m[z[11]]);
    G(2, 7, 8, 13, m[z[12]], m[z[13]]);
    G(3, 4, 9, 14, m[z[14]], m[z[15]]);
  }
#undef G
  for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2s_update(blake2s_state *s, const uint8_t *data, size_t len) {
  while (len > 0) {
    /* The last block is compressed in final(), with the last-block flag: keep a full one back. */
    if (s->filled == 64) {
      s->t += 64;
      blake2s_compress(s, s->block, 0);
      s->filled = 0;
    }
    size_t take = 64 - s->filled;
    if (take > len) take = len;
    memcpy(s->block + s->filled, data, take);
    s->filled += take;
    data += take;
    len -= take;
  }
}

static void blake2s_init(blake2s_state *s, size_t out_len, const uint8_t *key, size_t key_len) {
  memcpy(s->h, blake2s_iv, sizeof s->h);
  s->h[0] ^= 0x01010000u ^ ((uint32_t)key_len << 8) ^ (uint32_t)out_len;
  s->t = 0;
  s->filled = 0;
  s->out_len = out_len;
  if (key_len > 0) {
    uint8_t block[64] = {0};
    memcpy(block, key, key_len);
    blake2s_update(s, block, 64);
  }
}

static void blake2s_final(blake2s_state *s, uint8_t *out) {
  uint8_t digest[32];
  s->t += (uint32_t)s->filled;
  memset(s->block + s->filled, 0, 64 - s->filled);
  blake2s_compress(s, s->block, 1);
  for (int i = 0; i < 8; i++) store32(digest + 4 * i, s->h[i]);
  memcpy(out, digest, s->out_len);
}

/* BLAKE2s-`out_len` of data, keyed when key_len > 0 (WireGuard's MAC is the 16-byte keyed form). */
static void blake2s(uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len, const uint8_t *data, size_t len) {
  blake2s_state s;
  blake2s_init(&s, out_len, key, key_len);
  blake2s_update(&s, data, len);
  blake2s_final(&s, out);
}

/*
 * A keyed BLAKE2s with its key block already compressed: the filter's keys (mac1's, and the
 * cookie secret) change rarely, so each message pays for its own blocks only. Valid for data of
 * at least one byte (with none, the key block would have been the last, compressed with the
 * final flag); the filter's inputs are 116, 132 and 6 or 18 bytes.
 */
static void blake2s_keyed_base(blake2s_state *s, size_t out_len, const uint8_t key[32]) {
  blake2s_init(s, out_len, key, 32);
  s->t += 64;
  blake2s_compress(s, s->block, 0);
  s->filled = 0;
}

static void blake2s_from_base(const blake2s_state *base, uint8_t *out, const uint8_t *data, size_t len) {
  blake2s_state s = *base;
  blake2s_update(&s, data, len);
  blake2s_final(&s, out);
  memset(&s, 0, sizeof s);
}

/* ---- ChaCha20, HChaCha20 (RFC 8439, draft-irtf-cfrg-xchacha) ------------------------------- */

#define QUARTER(a, b, c, d)                 \
  do {                                      \
    x[a] += x[b]; x[d] = rotl32(x[d] ^ x[a], 16); \
    x[c] += x[d]; x[b] = rotl32(x[b] ^ x[c], 12); \
    x[a] += x[b]; x[d] = rotl32(x[d] ^ x[a], 8);  \
    x[c] += x[d]; x[b] = rotl32(x[b] ^ x[c], 7);  \
  } while (0)

static void chacha_rounds(uint32_t x[16]) {
  for (int i = 0; i < 10; i++) {
    QUARTER(0, 4, 8, 12);
    QUARTER(1, 5, 9, 13);
    QUARTER(2, 6, 10, 14);
    QUARTER(3, 7, 11, 15);
    QUARTER(0, 5, 10, 15);
    QUARTER(1, 6, 11, 12);
    QUARTER(2, 7, 8, 13);
    QUARTER(3, 4, 9, 14);
  }
}

static void chacha_setup(uint32_t state[16], const uint8_t key[32]) {
  state[0] = 0x61707865;
  state[1] = 0x3320646e;
  state[2] = 0x79622d32;
  state[3] = 0x6b206574;
  for (int i = 0; i < 8; i++) state[4 + i] = load32(key + 4 * i);
}

/* One 64-byte ChaCha20 block for (key, 32-bit counter, 12-byte nonce). */
static void chacha20_block(uint8_t out[64], const uint8_t key[32], uint32_t counter, const uint8_t nonce[12]) {
  uint32_t state[16], x[16];
  chacha_setup(state, key);
  state[12] = counter;
  for (int i = 0; i < 3; i++) state[13 + i] = load32(nonce + 4 * i);
  memcpy(x, state, sizeof x);
  chacha_rounds(x);
  for (int i = 0; i < 16; i++) store32(out + 4 * i, x[i] + state[i]);
}

/* HChaCha20: the subkey XChaCha20 derives from the key and the first 16 bytes of its nonce. */
static void hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16]) {
  uint32_t x[16];
  chacha_setup(x, key);
  for (int i = 0; i < 4; i++) x[12 + i] = load32(nonce16 + 4 * i);
  chacha_rounds(x);
  for (int i = 0; i < 4; i++) {
    store32(out + 4 * i, x[i]);
    store32(out + 16 + 4 * i, x[12 + i]);
  }
}

/* ---- Poly1305 (RFC 8439), 26-bit limbs; whole 16-byte blocks only ------------------------- */

/*
 * The one AEAD here seals a 16-byte cookie under a 16-byte associated datum, so the MAC input
 * (AD, ciphertext, the two lengths) is three whole blocks and never needs padding.
 */
static void poly1305_whole_blocks(uint8_t tag[16], const uint8_t key[32], const uint8_t *m, size_t blocks) {
  const uint32_t r0 = load32(key + 0) & 0x3ffffff, r1 = (load32(key + 3) >> 2) & 0x3ffff03,
                 r2 = (load32(key + 6) >> 4) & 0x3ffc0ff, r3 = (load32(key + 9) >> 6) & 0x3f03fff,
                 r4 = (load32(key + 12) >> 8) & 0x00fffff;
  const uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
  uint32_t h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, c;
  for (size_t b = 0; b < blocks; b++, m += 16) {
    uint64_t d0, d1, d2, d3, d4;
    h0 += load32(m + 0) & 0x3ffffff;
    h1 += (load32(m + 3) >> 2) & 0x3ffffff;
    h2 += (load32(m + 6) >> 4) & 0x3ffffff;
    h3 += (load32(m + 9) >> 6) & 0x3ffffff;
    h4 += (load32(m + 12) >> 8) | (1u << 24);
    d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 + (uint64_t)h4 * s1;
    d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 + (uint64_t)h4 * s2;
    d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 + (uint64_t)h4 * s3;
    d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 + (uint64_t)h4 * s4;
    d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 + (uint64_t)h4 * r0;
    c = (uint32_t)(d0 >> 26); h0 = (uint32_t)d0 & 0x3ffffff;
    d1 += c; c = (uint32_t)(d1 >> 26); h1 = (uint32_t)d1 & 0x3ffffff;
    d2 += c; c = (uint32_t)(d2 >> 26); h2 = (uint32_t)d2 & 0x3ffffff;
    d3 += c; c = (uint32_t)(d3 >> 26); h3 = (uint32_t)d3 & 0x3ffffff;
    d4 += c; c = (uint32_t)(d4 >> 26); h4 = (uint32_t)d4 & 0x3ffffff;
    h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
    h1 += c;
  }
  /* Full carry, then h mod 2^130 - 5 by computing h + -p and keeping it if it did not borrow. */
  c = h1 >> 26; h1 &= 0x3ffffff;
  h2 += c; c = h2 >> 26; h2 &= 0x3ffffff;
  h3 += c; c = h3 >> 26; h3 &= 0x3ffffff;
  h4 += c; c = h4 >> 26; h4 &= 0x3ffffff;
  h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
  h1 += c;
  uint32_t g0 = h0 + 5; c = g0 >> 26; g0 &= 0x3ffffff;
  uint32_t g1 = h1 + c; c = g1 >> 26; g1 &= 0x3ffffff;
  uint32_t g2 = h2 + c; c = g2 >> 26; g2 &= 0x3ffffff;
  uint32_t g3 = h3 + c; c = g3 >> 26; g3 &= 0x3ffffff;
  uint32_t g4 = h4 + c - (1u << 26);
  uint32_t keep = (g4 >> 31) - 1; /* all ones when h >= p */
  h0 = (h0 & ~keep) | (g0 & keep);
  h1 = (h1 & ~keep) | (g1 & keep);
  h2 = (h2 & ~keep) | (g2 & keep);
  h3 = (h3 & ~keep) | (g3 & keep);
  h4 = (h4 & ~keep) | (g4 & keep);
  /* To 128 bits, plus the second half of the key. */
  uint32_t w0 = h0 | (h1 << 26), w1 = (h1 >> 6) | (h2 << 20), w2 = (h2 >> 12) | (h3 << 14), w3 = (h3 >> 18) | (h4 << 8);
  uint64_t f;
  f = (uint64_t)w0 + load32(key + 16); store32(tag + 0, (uint32_t)f);
  f = (uint64_t)w1 + load32(key + 20) + (f >> 32); store32(tag + 4, (uint32_t)f);
  f = (uint64_t)w2 + load32(key + 24) + (f >> 32); store32(tag + 8, (uint32_t)f);
  f = (uint64_t)w3 + load32(key + 28) + (f >> 32); store32(tag + 12, (uint32_t)f);
}

/* XChaCha20-Poly1305 seal of a 16-byte plaintext with a 16-byte AD: out = ciphertext || tag. */
static void xseal16(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[24], const uint8_t plain[16], const uint8_t ad[16]) {
  uint8_t subkey[32], nonce12[12] = {0}, block[64], mac_input[48];
  hchacha20(subkey, key, nonce);
  memcpy(nonce12 + 4, nonce + 16, 8);
  chacha20_block(block, subkey, 0, nonce12); /* the Poly1305 key: the first 32 bytes of block 0 */
  uint8_t poly_key[32];
  memcpy(poly_key, block, 32);
  chacha20_block(block, subkey, 1, nonce12);
  for (int i = 0; i < 16; i++) out[i] = plain[i] ^ block[i];
  memcpy(mac_input, ad, 16);
  memcpy(mac_input + 16, out, 16);
  memset(mac_input + 32, 0, 16);
  mac_input[32] = 16; /* le64(len(AD)) */
  mac_input[40] = 16; /* le64(len(ciphertext)) */
  poly1305_whole_blocks(out + 16, poly_key, mac_input, 3);
  memset(subkey, 0, sizeof subkey);
  memset(poly_key, 0, sizeof poly_key);
  memset(block, 0, sizeof block);
}

/* ---- randomness ------------------------------------------------------------------------------ */

static int random_bytes(uint8_t *out, size_t len) {
#ifdef _WIN32
  return SystemFunction036(out, (ULONG)len) ? 0 : -1;
#elif defined(__APPLE__)
  arc4random_buf(out, len);
  return 0;
#else
  while (len > 0) {
    ssize_t n = getrandom(out, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    out += n;
    len -= (size_t)n;
  }
  return 0;
#endif
}

/* ---- the filter ------------------------------------------------------------------------------ */

typedef struct handshake_filter {
  int has_keys;
  uint8_t mac1_key[32];
  uint8_t cookie_key[32];
  uint8_t secret[32];
  blake2s_state mac1_base;   /* mac1_key's block compressed (blake2s_keyed_base) */
  blake2s_state secret_base; /* the same for the cookie secret */
  int has_secret;
  double secret_set_at;
  double window_start;
  uint32_t arrived_in_window;
  double under_load_until;
  uint32_t threshold;
  double under_load_ms;
  double cookie_refresh_ms;
} handshake_filter;

static const napi_type_tag filter_tag = {0x7769726c616e6568ULL, 0x7366696c74657201ULL};

static int equal16(const uint8_t *a, const uint8_t *b) {
  uint8_t diff = 0;
  for (int i = 0; i < 16; i++) diff |= a[i] ^ b[i];
  return diff == 0;
}

static int all_zero16(const uint8_t *a) {
  uint8_t any = 0;
  for (int i = 0; i < 16; i++) any |= a[i];
  return any == 0;
}

/* The bytes a cookie binds (whitepaper §5.4.7): source IP then port big-endian; 0 for a bad record. */
static size_t cookie_source(const uint8_t *record, uint8_t out[18]) {
  size_t ip = record[0] == 4 ? 4 : record[0] == 6 ? 16 : 0;
  if (ip == 0) return 0;
  memcpy(out, record + 4, ip);
  out[ip] = record[2];
  out[ip + 1] = record[3];
  return ip + 2;
}

static void finalize_filter(napi_env env, void *data, void *hint) {
  handshake_filter *f = (handshake_filter *)data;
  memset(f, 0, sizeof *f);
  free(f);
}

/* handshakeFilterCreate(underLoadThreshold, underLoadMs, cookieRefreshMs) -> handle */
static napi_value js_create(napi_env env, napi_callback_info info) {
  napi_value args[3];
  uint32_t threshold;
  double under_load_ms, refresh_ms;
  if (!io_args(env, info, 3, args, NULL) || !io_get_u32(env, args[0], &threshold)) return NULL;
  if (napi_get_value_double(env, args[1], &under_load_ms) != napi_ok ||
      napi_get_value_double(env, args[2], &refresh_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "handshakeFilterCreate: expected numbers");
    return NULL;
  }
  handshake_filter *f = (handshake_filter *)calloc(1, sizeof *f);
  if (f == NULL) {
    io_throw(env, "ENOMEM", "handshakeFilterCreate: out of memory");
    return NULL;
  }
  f->threshold = threshold;
  f->under_load_ms = under_load_ms;
  f->cookie_refresh_ms = refresh_ms;
  f->window_start = -1e300;
  f->under_load_until = -1e300;
  return io_wrap(env, f, &filter_tag, finalize_filter);
}

/* handshakeFilterSetKeys(handle, mac1Key, cookieKey): 32 bytes each, or both empty for "no private key". */
static napi_value js_set_keys(napi_env env, napi_callback_info info) {
  napi_value args[3];
  handshake_filter *f;
  uint8_t *mac1_key, *cookie_key;
  size_t mac1_len, cookie_len;
  if (!io_args(env, info, 3, args, NULL) || (f = io_unwrap(env, args[0], &filter_tag)) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &mac1_key, &mac1_len) != 0 || io_get_bytes(env, args[2], &cookie_key, &cookie_len) != 0) return NULL;
  IO_CHECK_ARG(env, (mac1_len == 32 && cookie_len == 32) || (mac1_len == 0 && cookie_len == 0),
               "handshakeFilterSetKeys: the keys are 32 bytes each, or both empty");
  if (mac1_len == 0) {
    memset(f->mac1_key, 0, 32);
    memset(f->cookie_key, 0, 32);
    f->has_keys = 0;
  } else {
    memcpy(f->mac1_key, mac1_key, 32);
    memcpy(f->cookie_key, cookie_key, 32);
    blake2s_keyed_base(&f->mac1_base, MAC_SIZE, f->mac1_key);
    f->has_keys = 1;
  }
  return io_undefined(env);
}

/*
 * Counts a batch's `n` handshake messages as arrived at `now`, all at once: a burst that arrives
 * in one batch puts the device under load for every message of it, not after the first
 * `threshold` of them have cost a Diffie-Hellman each.
 */
static void arrive(handshake_filter *f, double now, uint32_t n, uint32_t queued) {
  if (now - f->window_start >= f->under_load_ms) {
    f->window_start = now;
    f->arrived_in_window = 0;
  }
  f->arrived_in_window += n;
  if (queued >= f->threshold || f->arrived_in_window > f->threshold) f->under_load_until = now + f->under_load_ms;
}

/* Whether the device is under load now, with `queued` messages waiting for the slow path. */
static int under_load(handshake_filter *f, double now, uint32_t queued) {
  if (queued >= f->threshold) f->under_load_until = now + f->under_load_ms;
  return now < f->under_load_until;
}

static uint8_t filter_one(handshake_filter *f, const uint8_t *msg, size_t len, const uint8_t *record,
                          uint8_t *reply, const uint8_t *nonce, double now, uint32_t queued) {
  uint8_t type = msg[0], mac[16], cookie[16], source[18];
  size_t expected = type == MESSAGE_INITIATION ? INITIATION_SIZE
                  : type == MESSAGE_RESPONSE   ? RESPONSE_SIZE
                  : type == MESSAGE_COOKIE_REPLY ? COOKIE_REPLY_SIZE
                                                 : 0;
  if (expected == 0 || len != expected || msg[1] != 0 || msg[2] != 0 || msg[3] != 0) return VERDICT_BAD_SIZE;
  if (type == MESSAGE_COOKIE_REPLY) return VERDICT_PASS; /* no macs to check */
  int loaded = under_load(f, now, queued);
  if (!f->has_keys) return VERDICT_NO_KEY;
  size_t mac1_at = len - 2 * MAC_SIZE, mac2_at = len - MAC_SIZE;
  blake2s_from_base(&f->mac1_base, mac, msg, mac1_at);
  if (!equal16(mac, msg + mac1_at)) return VERDICT_BAD_MAC1;
  if (!loaded) return VERDICT_PASS;
  size_t source_len = cookie_source(record, source);
  if (source_len == 0) return VERDICT_BAD_SIZE;
  /* "the secret changes every COOKIE_REFRESH_TIME": a cookie from an older one is worthless. */
  if (f->has_secret && now - f->secret_set_at <= f->cookie_refresh_ms) {
    blake2s_from_base(&f->secret_base, cookie, source, source_len);
    /* An initiator without a cookie sends mac2 = zeros (what a flood sends): that matches no
     * cookie's MAC but with probability 2^-128, so it is answered without computing one. */
    if (!all_zero16(msg + mac2_at)) {
      blake2s(mac, MAC_SIZE, cookie, MAC_SIZE, msg, mac2_at);
      if (equal16(mac, msg + mac2_at)) return VERDICT_PROVEN;
    }
  } else {
    if (random_bytes(f->secret, 32) != 0) return VERDICT_NO_KEY;
    f->has_secret = 1;
    f->secret_set_at = now;
    blake2s_keyed_base(&f->secret_base, MAC_SIZE, f->secret);
    blake2s_from_base(&f->secret_base, cookie, source, source_len);
  }
  /* Cookie reply: type 3, the sender's index as receiver, nonce, XAEAD(cookie) with mac1 as AD. */
  reply[0] = MESSAGE_COOKIE_REPLY;
  reply[1] = reply[2] = reply[3] = 0;
  memcpy(reply + 4, msg + 4, 4);
  memcpy(reply + 8, nonce, 24);
  xseal16(reply + 32, f->cookie_key, nonce, cookie, msg + mac1_at);
  memset(cookie, 0, sizeof cookie);
  return VERDICT_COOKIE_REPLY;
}

/*
 * handshakeFilterRun(handle, buffer, offsets, lengths, indices, count, sources, verdicts, replies,
 *                    now, queued) -> cookie replies written
 * For j < count: datagram indices[j] is buffer[offsets[i], +lengths[i]), its sender the sender
 * record j of `sources` (SOURCE_RECORD_BYTES each, io.h); its verdict goes to verdicts[j], and a cookie reply to replies[64j..].
 * `queued` is the slow path's queue length before the batch; each pass adds one to it.
 */
static napi_value js_run(napi_env env, napi_callback_info info) {
  napi_value args[11];
  handshake_filter *f;
  uint8_t *data, *sources, *verdicts, *replies;
  size_t data_len, offsets_count, lengths_count, indices_count, sources_len, verdicts_len, replies_len;
  int32_t *offsets, *lengths, *indices;
  uint32_t count, queued;
  double now;
  uint32_t written = 0;
  uint8_t nonces[24 * 64];
  if (!io_args(env, info, 11, args, NULL) || (f = io_unwrap(env, args[0], &filter_tag)) == NULL) return NULL;
  if (io_get_bytes(env, args[1], &data, &data_len) != 0 || io_get_int32s(env, args[2], &offsets, &offsets_count) != 0 ||
      io_get_int32s(env, args[3], &lengths, &lengths_count) != 0 || io_get_int32s(env, args[4], &indices, &indices_count) != 0 ||
      !io_get_u32(env, args[5], &count) || io_get_bytes(env, args[6], &sources, &sources_len) != 0 ||
      io_get_bytes(env, args[7], &verdicts, &verdicts_len) != 0 || io_get_bytes(env, args[8], &replies, &replies_len) != 0 ||
      !io_get_u32(env, args[10], &queued))
    return NULL;
  if (napi_get_value_double(env, args[9], &now) != napi_ok) {
    napi_throw_type_error(env, NULL, "handshakeFilterRun: now must be a number");
    return NULL;
  }
  IO_CHECK_ARG(env, count <= indices_count && count <= verdicts_len && (size_t)count * SOURCE_RECORD_BYTES <= sources_len &&
                        (size_t)count * COOKIE_REPLY_SIZE <= replies_len,
               "handshakeFilterRun: count exceeds the indices, verdicts, sources or replies");
  arrive(f, now, count, queued);
  for (uint32_t start = 0; start < count; start += 64) {
    uint32_t end = count - start > 64 ? start + 64 : count;
    /* Fresh nonces for the replies this chunk may write: one system call per 64 messages. */
    if (random_bytes(nonces, 24 * (size_t)(end - start)) != 0) {
      io_throw(env, "EIO", "handshakeFilterRun: the system's random source failed");
      return NULL;
    }
    for (uint32_t j = start; j < end; j++) {
      int32_t i = indices[j];
      uint8_t verdict = VERDICT_BAD_SIZE;
      if (i >= 0 && (size_t)i < offsets_count && (size_t)i < lengths_count && offsets[i] >= 0 && lengths[i] >= 4 &&
          (size_t)offsets[i] + (size_t)lengths[i] <= data_len) {
        verdict = filter_one(f, data + offsets[i], (size_t)lengths[i], sources + (size_t)j * SOURCE_RECORD_BYTES,
                             replies + (size_t)j * COOKIE_REPLY_SIZE, nonces + 24 * (size_t)(j - start), now, queued);
      }
      if (verdict == VERDICT_PASS || verdict == VERDICT_PROVEN) queued++;
      if (verdict == VERDICT_COOKIE_REPLY) written++;
      verdicts[j] = verdict;
    }
  }
  memset(nonces, 0, sizeof nonces);
  return io_number(env, written);
}

/* blake2s(outLength, key, data) -> Buffer: the primitive itself, for the known-answer tests. */
static napi_value js_blake2s(napi_env env, napi_callback_info info) {
  napi_value args[3], result;
  uint32_t out_len;
  uint8_t *key, *data, out[32];
  size_t key_len, data_len;
  if (!io_args(env, info, 3, args, NULL) || !io_get_u32(env, args[0], &out_len)) return NULL;
  if (io_get_bytes(env, args[1], &key, &key_len) != 0 || io_get_bytes(env, args[2], &data, &data_len) != 0) return NULL;
  IO_CHECK_ARG(env, out_len >= 1 && out_len <= 32 && key_len <= 32, "blake2s: 1 to 32 output bytes, a key of at most 32");
  blake2s(out, out_len, key, key_len, data, data_len);
  if (napi_create_buffer_copy(env, out_len, out, NULL, &result) != napi_ok) return NULL;
  return result;
}

void io_register_handshake_filter(napi_env env, napi_value exports) {
  io_export(env, exports, "handshakeFilterCreate", js_create);
  io_export(env, exports, "handshakeFilterSetKeys", js_set_keys);
  io_export(env, exports, "handshakeFilterRun", js_run);
  io_export(env, exports, "blake2s", js_blake2s);
}
