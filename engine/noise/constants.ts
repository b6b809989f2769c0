/**
 * Constants of the WireGuard protocol.
 *
 * The first block is the specification's own (whitepaper section 6 and the message formats of
 * section 5.4), named as the paper names them. The second block holds limits that are choices of
 * implementations (wireguard-go, the Linux kernel module) rather than of the protocol; we follow
 * wireguard-go where it and the kernel agree, and say so where they differ.
 *
 * Times are in milliseconds: the engine's clock (`now`) is a monotonic millisecond count.
 */

// --- The paper's constants (whitepaper §6.1) ---
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 - 2^13 - 1: exact only as a bigint; compare counters against it with care. */
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** A cookie secret (responder side) and a received cookie (initiator side) live this long. */
export const COOKIE_REFRESH_TIME = 120_000;

// --- Noise identifiers (whitepaper §5.4) ---
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

// --- Message types and sizes (whitepaper §5.4) ---
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const MESSAGE_INITIATION_SIZE = 148;
export const MESSAGE_RESPONSE_SIZE = 92;
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
/** type(4) + receiver(4) + counter(8) */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
export const AEAD_TAG_SIZE = 16;
/** A keepalive is a transport message with an empty payload. */
export const MESSAGE_KEEPALIVE_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
/** Plaintext is zero-padded to a multiple of this before encryption. */
export const MESSAGE_PADDING_MULTIPLE = 16;

// --- Implementation limits (wireguard-go device/constants.go, kernel messages.h) ---
/** REKEY_ATTEMPT_TIME / REKEY_TIMEOUT: handshake retries before giving up. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Upper bound of the random jitter added to each handshake retransmission (kernel: 333 ms). */
export const REKEY_TIMEOUT_JITTER_MAX = 334;
/**
 * Initiations from one peer closer together than this are not answered: a flood guard on the
 * receiving side (wireguard-go HandshakeInitationRate, one second / 50).
 */
export const HANDSHAKE_INITIATION_RATE = 20;
/** Replay window width in packets: 8192 bits of bitmap less one word (kernel and wireguard-go). */
export const REPLAY_WINDOW_SIZE = 8128;
/** Packets staged per peer while a handshake is in flight (wireguard-go QueueStagedSize). */
export const MAX_STAGED_PACKETS = 128;
/** Handshake messages waiting to be processed; past UNDER_LOAD_THRESHOLD the device is under load. */
export const MAX_QUEUED_HANDSHAKES = 4096;
export const UNDER_LOAD_THRESHOLD = MAX_QUEUED_HANDSHAKES / 8;
/** Stay "under load" this long after the queue drains (wireguard-go UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER_TIME = 1_000;
/** Per-source handshake rate limit: tokens per second and burst (wireguard-go ratelimiter). */
export const HANDSHAKES_PER_SECOND = 20;
export const HANDSHAKE_BURST = 5;
export const MAX_PEERS = 1 << 16;
/** Largest IP packet we carry (wireguard-go MaxContentSize less headers is far above any MTU). */
export const MAX_PACKET_SIZE = 65_535;
export const DEFAULT_MTU = 1420;
export const DEFAULT_LISTEN_PORT = 51820;
