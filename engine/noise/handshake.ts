/**
 * The Noise_IKpsk2 handshake of WireGuard (whitepaper §5.4.2-5.4.4):
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {t}        initiation: our ephemeral, our static sealed, a TAI64N timestamp
 *   <- e, ee, se, psk, {}       response: their ephemeral, the preshared key, an empty payload
 *
 * The Noise symmetric state (chaining key C and transcript hash H) is the small class
 * `SymmetricState`; the two messages are written and read by the `*Core` functions, which know
 * nothing of WireGuard's framing, so the same code is checked byte for byte against the
 * published Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s test vector (test/unit/noise-vector.test.ts).
 * The WireGuard functions below them add the framing: indices, the construction and identifier
 * strings, a 12-byte timestamp as the initiation's payload and nothing as the response's.
 *
 * Every DH result is checked: a low-order public key makes X25519 return all zeros, which the
 * crypto backend reports as null, and the handshake is then refused.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { hash, kdf1, kdf2, kdf3 } from '../crypto/hash.js';
import type { ConsumedInitiation, LocalIdentity } from './api.js';
import { CONSTRUCTION, IDENTIFIER, LABEL_COOKIE, LABEL_MAC1 } from './constants.js';
import { decodeInitiation, decodeResponse, encodeInitiation, encodeResponse, type ResponseFields } from './messages.js';

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** Handshake AEADs always use nonce 0: each key κ encrypts exactly one message. */
const ZERO_NONCE = new Uint8Array(12);
/** Q when no preshared key is configured (whitepaper: "Q = 0^32"). */
export const ZERO_PRESHARED_KEY = new Uint8Array(32);

/** Noise's SymmetricState: the chaining key C and hash H, and the steps that evolve them. */
export class SymmetricState {
  constructor(
    public chainKey: Uint8Array,
    public hash: Uint8Array,
  ) {}

  /**
   * InitializeSymmetric(protocolName) then MixHash(prologue): C := HASH(name) (the name is longer
   * than 32 bytes), H := HASH(C || prologue).
   */
  static initialize(protocolName: Uint8Array, prologue: Uint8Array): SymmetricState {
    const chainKey = hash(protocolName);
    return new SymmetricState(chainKey, hash(chainKey, prologue));
  }

  clone(): SymmetricState {
    return new SymmetricState(this.chainKey.slice(), this.hash.slice());
  }

  /** Zeroes the superseded chaining key: with it, every later key of the handshake follows. */
  private replaceChainKey(next: Uint8Array): void {
    this.chainKey.fill(0);
    this.chainKey = next;
  }

  /** H := HASH(H || data) */
  mixHash(data: Uint8Array): void {
    this.hash = hash(this.hash, data);
  }

  /** C := KDF1(C, input): the `e` token of a psk handshake. */
  mixChain(input: Uint8Array): void {
    this.replaceChainKey(kdf1(this.chainKey, input));
  }

  /** (C, κ) := KDF2(C, input): a DH token; returns κ. */
  mixKey(input: Uint8Array): Uint8Array {
    const [chainKey, key] = kdf2(this.chainKey, input);
    this.replaceChainKey(chainKey);
    return key;
  }

  /** (C, τ, κ) := KDF3(C, Q); H := HASH(H || τ): the `psk` token; returns κ. */
  mixKeyAndHash(presharedKey: Uint8Array): Uint8Array {
    const [chainKey, tau, key] = kdf3(this.chainKey, presharedKey);
    this.replaceChainKey(chainKey);
    this.mixHash(tau);
    tau.fill(0);
    return key;
  }

  /** msg := AEAD(κ, 0, plaintext, H); H := HASH(H || msg) */
  encryptAndHash(crypto: CryptoBackend, key: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const sealed = new Uint8Array(plaintext.length + 16);
    crypto.seal(sealed, key, ZERO_NONCE, plaintext, this.hash);
    key.fill(0);
    this.mixHash(sealed);
    return sealed;
  }

  /** plaintext := AEAD-open(κ, 0, msg, H); H := HASH(H || msg); null when it does not verify. */
  decryptAndHash(crypto: CryptoBackend, key: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < 16) return null;
    const plaintext = new Uint8Array(sealed.length - 16);
    const length = crypto.open(plaintext, key, ZERO_NONCE, sealed, this.hash);
    key.fill(0);
    if (length < 0) return null;
    this.mixHash(sealed);
    return plaintext;
  }

  /** (T_i→r, T_r→i) := KDF2(C, ε): the transport keys, initiator's sending key first. */
  split(): [Uint8Array, Uint8Array] {
    return kdf2(this.chainKey, EMPTY);
  }

  /** Zeroes C and H (the handshake is over or abandoned). */
  wipe(): void {
    this.chainKey.fill(0);
    this.hash.fill(0);
  }
}

// --- Noise IKpsk2 message patterns, free of WireGuard framing -------------------------------------

export interface InitiationCoreOutput {
  ephemeral: Uint8Array;
  encryptedStatic: Uint8Array;
  encryptedPayload: Uint8Array;
}

/**
 * -> e, es, s, ss, {payload}. `state` already holds the responder's static (pre-message `<- s`).
 * `staticStatic` is DH(s_i, S_r), precomputed per peer. Null when a DH result is all zeros.
 */
export function writeInitiationCore(
  crypto: CryptoBackend,
  state: SymmetricState,
  ephemeralPrivate: Uint8Array,
  localStaticPublic: Uint8Array,
  remoteStatic: Uint8Array,
  staticStatic: Uint8Array,
  payload: Uint8Array,
): InitiationCoreOutput | null {
  const ephemeral = crypto.publicKey(ephemeralPrivate);
  state.mixHash(ephemeral); // e: H := HASH(H || E_pub) ...
  state.mixChain(ephemeral); // ... and C := KDF1(C, E_pub)
  const es = crypto.sharedSecret(ephemeralPrivate, remoteStatic);
  if (es === null) return null;
  const encryptedStatic = state.encryptAndHash(crypto, state.mixKey(es), localStaticPublic); // es, s
  es.fill(0);
  const encryptedPayload = state.encryptAndHash(crypto, state.mixKey(staticStatic), payload); // ss, {payload}
  return { ephemeral, encryptedStatic, encryptedPayload };
}

/**
 * The first half of reading an initiation: e, es, s. Returns the initiator's static key, or
 * null when the DH is all zeros or the static key does not decrypt.
 */
export function readInitiationStaticCore(
  crypto: CryptoBackend,
  state: SymmetricState,
  localStaticPrivate: Uint8Array,
  ephemeral: Uint8Array,
  encryptedStatic: Uint8Array,
): Uint8Array | null {
  state.mixHash(ephemeral);
  state.mixChain(ephemeral);
  const es = crypto.sharedSecret(localStaticPrivate, ephemeral);
  if (es === null) return null;
  const remoteStatic = state.decryptAndHash(crypto, state.mixKey(es), encryptedStatic);
  es.fill(0);
  return remoteStatic;
}

/** The second half: ss, {payload}. Null when the payload does not decrypt. */
export function readInitiationPayloadCore(
  crypto: CryptoBackend,
  state: SymmetricState,
  staticStatic: Uint8Array,
  encryptedPayload: Uint8Array,
): Uint8Array | null {
  return state.decryptAndHash(crypto, state.mixKey(staticStatic), encryptedPayload);
}

export interface ResponseCoreOutput {
  ephemeral: Uint8Array;
  encryptedPayload: Uint8Array;
}

/** <- e, ee, se, psk, {payload}, written by the responder. Null when a DH result is all zeros. */
export function writeResponseCore(
  crypto: CryptoBackend,
  state: SymmetricState,
  ephemeralPrivate: Uint8Array,
  remoteEphemeral: Uint8Array,
  remoteStatic: Uint8Array,
  presharedKey: Uint8Array,
  payload: Uint8Array,
): ResponseCoreOutput | null {
  const ephemeral = crypto.publicKey(ephemeralPrivate);
  state.mixHash(ephemeral);
  state.mixChain(ephemeral);
  const ee = crypto.sharedSecret(ephemeralPrivate, remoteEphemeral);
  if (ee === null) return null;
  state.mixChain(ee); // C := KDF1(C, DH(E_priv_r, E_pub_i))
  ee.fill(0);
  const se = crypto.sharedSecret(ephemeralPrivate, remoteStatic);
  if (se === null) return null;
  state.mixChain(se); // C := KDF1(C, DH(E_priv_r, S_pub_i))
  se.fill(0);
  const encryptedPayload = state.encryptAndHash(crypto, state.mixKeyAndHash(presharedKey), payload);
  return { ephemeral, encryptedPayload };
}

/** <- e, ee, se, psk, {payload}, read by the initiator. The payload, or null when refused. */
export function readResponseCore(
  crypto: CryptoBackend,
  state: SymmetricState,
  localEphemeralPrivate: Uint8Array,
  localStaticPrivate: Uint8Array,
  ephemeral: Uint8Array,
  presharedKey: Uint8Array,
  encryptedPayload: Uint8Array,
): Uint8Array | null {
  state.mixHash(ephemeral);
  state.mixChain(ephemeral);
  const ee = crypto.sharedSecret(localEphemeralPrivate, ephemeral);
  if (ee === null) return null;
  state.mixChain(ee);
  ee.fill(0);
  const se = crypto.sharedSecret(localStaticPrivate, ephemeral);
  if (se === null) return null;
  state.mixChain(se);
  se.fill(0);
  return state.decryptAndHash(crypto, state.mixKeyAndHash(presharedKey), encryptedPayload);
}

// --- WireGuard ------------------------------------------------------------------------------------

const CONSTRUCTION_BYTES = encoder.encode(CONSTRUCTION);
const IDENTIFIER_BYTES = encoder.encode(IDENTIFIER);
const LABEL_MAC1_BYTES = encoder.encode(LABEL_MAC1);
const LABEL_COOKIE_BYTES = encoder.encode(LABEL_COOKIE);
/** C_i and H_i of the whitepaper, before anything peer-specific: computed once. */
const INITIAL = SymmetricState.initialize(CONSTRUCTION_BYTES, IDENTIFIER_BYTES);

/** The state every WireGuard handshake starts from, with the responder's static mixed in. */
export function initialState(responderStatic: Uint8Array): SymmetricState {
  const state = INITIAL.clone();
  state.mixHash(responderStatic);
  return state;
}

/** Our identity with the keys derived from it for mac1 and cookie checks. */
export interface NoiseIdentity extends LocalIdentity {
  /** HASH(LABEL_MAC1 || our public key): the key of mac1 on messages sent to us. */
  readonly mac1Key: Uint8Array;
  /** HASH(LABEL_COOKIE || our public key): the key sealing cookie replies we send. */
  readonly cookieKey: Uint8Array;
}

/** mac1 key for messages sent to `publicKey`. */
export function mac1KeyFor(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1_BYTES, publicKey);
}

/** Cookie-reply key of `publicKey`'s owner. */
export function cookieKeyFor(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE_BYTES, publicKey);
}

/** Our identity from a 32-byte private key; the derived mac1 and cookie keys are computed once. */
export function createLocalIdentity(crypto: CryptoBackend, privateKey: Uint8Array): NoiseIdentity {
  if (privateKey.length !== 32) throw new RangeError(`a private key is 32 bytes, not ${privateKey.length}`);
  const copy = privateKey.slice();
  const publicKey = crypto.publicKey(copy);
  return { privateKey: copy, publicKey, mac1Key: mac1KeyFor(publicKey), cookieKey: cookieKeyFor(publicKey) };
}

/** `local` with its derived keys, computing them when the caller built a bare LocalIdentity. */
export function asNoiseIdentity(crypto: CryptoBackend, local: LocalIdentity): NoiseIdentity {
  const keys = local as Partial<NoiseIdentity>;
  if (keys.mac1Key !== undefined && keys.cookieKey !== undefined) return local as NoiseIdentity;
  return createLocalIdentity(crypto, local.privateKey);
}

/** The initiator's handshake in flight after sending an initiation. */
export interface InitiationInFlight {
  state: SymmetricState;
  ephemeralPrivate: Uint8Array;
  localIndex: number;
}

/**
 * A 148-byte initiation (macs still zero) and the state to finish the handshake with, or null
 * when a DH result is all zeros (low-order ephemeral, or a low-order peer key: staticStatic null).
 * `ephemeralPrivate` is fresh randomness except in known-answer tests.
 */
export function createInitiation(
  crypto: CryptoBackend,
  local: LocalIdentity,
  remoteStatic: Uint8Array,
  staticStatic: Uint8Array | null,
  timestamp: Uint8Array,
  localIndex: number,
  ephemeralPrivate: Uint8Array = crypto.generatePrivateKey(),
): { message: Uint8Array; inFlight: InitiationInFlight } | null {
  if (staticStatic === null) return null;
  const state = initialState(remoteStatic);
  const core = writeInitiationCore(crypto, state, ephemeralPrivate, local.publicKey, remoteStatic, staticStatic, timestamp);
  if (core === null) return null;
  const message = encodeInitiation({
    sender: localIndex,
    ephemeral: core.ephemeral,
    encryptedStatic: core.encryptedStatic,
    encryptedTimestamp: core.encryptedPayload,
  });
  return { message, inFlight: { state, ephemeralPrivate, localIndex } };
}

/** An initiation that decrypted: what the responder's peer needs to answer it. */
export interface DecryptedInitiation extends ConsumedInitiation {
  readonly remoteEphemeral: Uint8Array;
  /** The initiator's index: the receiver of our response and of our transport messages. */
  readonly remoteIndex: number;
  readonly timestamp: Uint8Array;
  /** Symmetric state after the initiation, to continue with the response. */
  readonly state: SymmetricState;
  /** The public key the initiation was addressed to (guards against a key change in between). */
  readonly localPublicKey: Uint8Array;
}

/**
 * Reads an initiation addressed to `local` (whitepaper §5.4.2, responder side): decrypts the
 * initiator's static key and the timestamp. Null when it is not a well-formed initiation, a DH
 * result is all zeros, either field fails to authenticate, or the static key is not one of our
 * peers'. mac1/mac2 are the device's to check first (CookieChecker); replay and
 * flood checks are the peer's (receiveInitiation).
 *
 * The static-static DH (ss) is the peer's, precomputed when its keys were set, as wireguard-go
 * keeps precomputedStaticStatic: `staticStaticFor` looks it up by the decrypted static key and
 * answers null for a key that is not a configured peer's. So any initiation costs one DH (es)
 * here: anyone who knows our public key can seal a random static key, or a real peer's, and
 * neither buys a second one. Without `staticStaticFor` (tests, one-off checks) ss is computed.
 */
export function consumeInitiation(
  crypto: CryptoBackend,
  local: LocalIdentity,
  message: Uint8Array,
  staticStaticFor?: (remoteStatic: Uint8Array) => Uint8Array | null,
): ConsumedInitiation | null {
  const fields = decodeInitiation(message);
  if (fields === null) return null;
  const state = initialState(local.publicKey);
  const remoteStatic = readInitiationStaticCore(crypto, state, local.privateKey, fields.ephemeral, fields.encryptedStatic);
  const staticStatic =
    remoteStatic === null ? null : staticStaticFor !== undefined ? staticStaticFor(remoteStatic) : crypto.sharedSecret(local.privateKey, remoteStatic);
  if (remoteStatic === null || staticStatic === null) {
    state.wipe();
    return null;
  }
  const timestamp = readInitiationPayloadCore(crypto, state, staticStatic, fields.encryptedTimestamp);
  // A precomputed value stays with its peer; one computed here is ours to wipe.
  if (staticStaticFor === undefined) staticStatic.fill(0);
  if (timestamp === null) {
    state.wipe();
    return null;
  }
  const consumed: DecryptedInitiation = {
    remoteStatic,
    remoteEphemeral: fields.ephemeral.slice(),
    remoteIndex: fields.sender,
    timestamp,
    state,
    localPublicKey: local.publicKey,
  };
  return consumed;
}

/** Whether `value` is an initiation consumeInitiation produced (the device passes it back). */
export function isDecryptedInitiation(value: ConsumedInitiation): value is DecryptedInitiation {
  const candidate = value as Partial<DecryptedInitiation>;
  return candidate.state instanceof SymmetricState && candidate.timestamp instanceof Uint8Array;
}

/**
 * The responder's answer (whitepaper §5.4.3): a 92-byte response (macs zero) and the state
 * whose chaining key gives the transport keys. Null when a DH result is all zeros.
 */
export function createResponse(
  crypto: CryptoBackend,
  initiation: DecryptedInitiation,
  presharedKey: Uint8Array,
  localIndex: number,
  ephemeralPrivate: Uint8Array = crypto.generatePrivateKey(),
): { message: Uint8Array; state: SymmetricState } | null {
  const state = initiation.state.clone();
  const core = writeResponseCore(crypto, state, ephemeralPrivate, initiation.remoteEphemeral, initiation.remoteStatic, presharedKey, EMPTY);
  ephemeralPrivate.fill(0);
  if (core === null) {
    state.wipe();
    return null;
  }
  const message = encodeResponse({
    sender: localIndex,
    receiver: initiation.remoteIndex,
    ephemeral: core.ephemeral,
    encryptedNothing: core.encryptedPayload,
  });
  return { message, state };
}

/**
 * Reads a response to our initiation `inFlight` (whitepaper §5.4.3, initiator side). Returns
 * the state to derive transport keys from and the responder's index, or null when refused.
 */
export function consumeResponse(
  crypto: CryptoBackend,
  local: LocalIdentity,
  inFlight: InitiationInFlight,
  presharedKey: Uint8Array,
  message: Uint8Array,
): { state: SymmetricState; remoteIndex: number } | null {
  const fields: ResponseFields | null = decodeResponse(message);
  if (fields === null || fields.receiver !== inFlight.localIndex) return null;
  const state = inFlight.state.clone();
  const payload = readResponseCore(crypto, state, inFlight.ephemeralPrivate, local.privateKey, fields.ephemeral, presharedKey, fields.encryptedNothing);
  if (payload === null || payload.length !== 0) {
    state.wipe();
    return null;
  }
  return { state, remoteIndex: fields.sender };
}
