/**
 * Wire layout of WireGuard's four message types (whitepaper §5.4.2-5.4.6).
 *
 * Every field is little-endian. The first four bytes are the type: one byte and three reserved
 * zero bytes; wireguard-go and the kernel read them as one 32-bit little-endian word, so a
 * message with a non-zero reserved byte is not of any type and is dropped (messageType → 0).
 *
 *   initiation (148)   type | sender | ephemeral(32) | static(32+16) | timestamp(12+16) | mac1(16) | mac2(16)
 *   response (92)      type | sender | receiver | ephemeral(32) | empty(0+16) | mac1(16) | mac2(16)
 *   cookie reply (64)  type | receiver | nonce(24) | cookie(16+16)
 *   transport (16+n)   type | receiver | counter(8) | packet(n, n >= 16: padded plaintext + tag)
 */
import {
  AEAD_TAG_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_RESPONSE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT,
} from './constants.js';

export const KEY_LENGTH = 32;
export const MAC_LENGTH = 16;
export const TIMESTAMP_LENGTH = 12;
export const COOKIE_NONCE_LENGTH = 24;
export const COOKIE_LENGTH = 16;

// Offsets common to all types.
export const OFFSET_TYPE = 0;

// Handshake initiation.
export const INITIATION_SENDER = 4;
export const INITIATION_EPHEMERAL = 8;
export const INITIATION_STATIC = INITIATION_EPHEMERAL + KEY_LENGTH; // 40
export const INITIATION_STATIC_SEALED_LENGTH = KEY_LENGTH + AEAD_TAG_SIZE; // 48
export const INITIATION_TIMESTAMP = INITIATION_STATIC + INITIATION_STATIC_SEALED_LENGTH; // 88
export const INITIATION_TIMESTAMP_SEALED_LENGTH = TIMESTAMP_LENGTH + AEAD_TAG_SIZE; // 28
export const INITIATION_MAC1 = INITIATION_TIMESTAMP + INITIATION_TIMESTAMP_SEALED_LENGTH; // 116
export const INITIATION_MAC2 = INITIATION_MAC1 + MAC_LENGTH; // 132

// Handshake response.
export const RESPONSE_SENDER = 4;
export const RESPONSE_RECEIVER = 8;
export const RESPONSE_EPHEMERAL = 12;
export const RESPONSE_EMPTY = RESPONSE_EPHEMERAL + KEY_LENGTH; // 44
export const RESPONSE_EMPTY_SEALED_LENGTH = AEAD_TAG_SIZE; // 16
export const RESPONSE_MAC1 = RESPONSE_EMPTY + RESPONSE_EMPTY_SEALED_LENGTH; // 60
export const RESPONSE_MAC2 = RESPONSE_MAC1 + MAC_LENGTH; // 76

// Cookie reply.
export const COOKIE_REPLY_RECEIVER = 4;
export const COOKIE_REPLY_NONCE = 8;
export const COOKIE_REPLY_COOKIE = COOKIE_REPLY_NONCE + COOKIE_NONCE_LENGTH; // 32
export const COOKIE_REPLY_COOKIE_SEALED_LENGTH = COOKIE_LENGTH + AEAD_TAG_SIZE; // 32

// Transport data.
export const TRANSPORT_RECEIVER = 4;
export const TRANSPORT_COUNTER = 8;
export const TRANSPORT_PACKET = 16;

/** mac1 and mac2 are always the last 32 bytes of a handshake message. */
export function mac1Offset(messageLength: number): number {
  return messageLength - 2 * MAC_LENGTH;
}
export function mac2Offset(messageLength: number): number {
  return messageLength - MAC_LENGTH;
}

export function readU32(buffer: Uint8Array, offset: number): number {
  return (buffer[offset]! | (buffer[offset + 1]! << 8) | (buffer[offset + 2]! << 16) | (buffer[offset + 3]! << 24)) >>> 0;
}

export function writeU32(buffer: Uint8Array, offset: number, value: number): void {
  buffer[offset] = value & 0xff;
  buffer[offset + 1] = (value >>> 8) & 0xff;
  buffer[offset + 2] = (value >>> 16) & 0xff;
  buffer[offset + 3] = (value >>> 24) & 0xff;
}

/**
 * The message type of the datagram `buffer[offset, offset+length)`, or 0 when it is none: an
 * unknown type, non-zero reserved bytes, or a length wrong for its type (handshake messages
 * have exact sizes; a transport message carries at least a tag).
 */
export function messageType(buffer: Uint8Array, offset: number, length: number): number {
  if (length < 4) return 0;
  const type = readU32(buffer, offset + OFFSET_TYPE);
  switch (type) {
    case MESSAGE_INITIATION:
      return length === MESSAGE_INITIATION_SIZE ? type : 0;
    case MESSAGE_RESPONSE:
      return length === MESSAGE_RESPONSE_SIZE ? type : 0;
    case MESSAGE_COOKIE_REPLY:
      return length === MESSAGE_COOKIE_REPLY_SIZE ? type : 0;
    case MESSAGE_TRANSPORT:
      return length >= MESSAGE_KEEPALIVE_SIZE ? type : 0;
    default:
      return 0;
  }
}

/** The receiver index of a response, cookie reply or transport message (all at offset 4 or 8). */
export function receiverIndex(buffer: Uint8Array, offset: number, type: number): number {
  return readU32(buffer, offset + (type === MESSAGE_RESPONSE ? RESPONSE_RECEIVER : TRANSPORT_RECEIVER));
}

// --- Codecs: a decoded message holds views into the datagram (no copies); encoders allocate. ---

export interface InitiationFields {
  sender: number;
  ephemeral: Uint8Array;
  /** The sealed static key: 32 bytes of ciphertext and a 16-byte tag. */
  encryptedStatic: Uint8Array;
  /** The sealed TAI64N timestamp: 12 bytes of ciphertext and a 16-byte tag. */
  encryptedTimestamp: Uint8Array;
}

export interface ResponseFields {
  sender: number;
  receiver: number;
  ephemeral: Uint8Array;
  /** The sealed empty payload: a 16-byte tag. */
  encryptedNothing: Uint8Array;
}

export interface CookieReplyFields {
  receiver: number;
  nonce: Uint8Array;
  /** The sealed 16-byte cookie and its tag. */
  encryptedCookie: Uint8Array;
}

/** A 148-byte initiation with mac1 and mac2 zero (the cookie generator fills them). */
export function encodeInitiation(fields: InitiationFields): Uint8Array {
  const out = new Uint8Array(MESSAGE_INITIATION_SIZE);
  writeU32(out, OFFSET_TYPE, MESSAGE_INITIATION);
  writeU32(out, INITIATION_SENDER, fields.sender);
  out.set(fields.ephemeral, INITIATION_EPHEMERAL);
  out.set(fields.encryptedStatic, INITIATION_STATIC);
  out.set(fields.encryptedTimestamp, INITIATION_TIMESTAMP);
  return out;
}

/** The fields of an initiation, or null when `message` is not one. */
export function decodeInitiation(message: Uint8Array): InitiationFields | null {
  if (messageType(message, 0, message.length) !== MESSAGE_INITIATION) return null;
  return {
    sender: readU32(message, INITIATION_SENDER),
    ephemeral: message.subarray(INITIATION_EPHEMERAL, INITIATION_STATIC),
    encryptedStatic: message.subarray(INITIATION_STATIC, INITIATION_TIMESTAMP),
    encryptedTimestamp: message.subarray(INITIATION_TIMESTAMP, INITIATION_MAC1),
  };
}

/** A 92-byte response with mac1 and mac2 zero. */
export function encodeResponse(fields: ResponseFields): Uint8Array {
  const out = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  writeU32(out, OFFSET_TYPE, MESSAGE_RESPONSE);
  writeU32(out, RESPONSE_SENDER, fields.sender);
  writeU32(out, RESPONSE_RECEIVER, fields.receiver);
  out.set(fields.ephemeral, RESPONSE_EPHEMERAL);
  out.set(fields.encryptedNothing, RESPONSE_EMPTY);
  return out;
}

export function decodeResponse(message: Uint8Array): ResponseFields | null {
  if (messageType(message, 0, message.length) !== MESSAGE_RESPONSE) return null;
  return {
    sender: readU32(message, RESPONSE_SENDER),
    receiver: readU32(message, RESPONSE_RECEIVER),
    ephemeral: message.subarray(RESPONSE_EPHEMERAL, RESPONSE_EMPTY),
    encryptedNothing: message.subarray(RESPONSE_EMPTY, RESPONSE_MAC1),
  };
}

export function encodeCookieReply(fields: CookieReplyFields): Uint8Array {
  const out = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
  writeU32(out, OFFSET_TYPE, MESSAGE_COOKIE_REPLY);
  writeU32(out, COOKIE_REPLY_RECEIVER, fields.receiver);
  out.set(fields.nonce, COOKIE_REPLY_NONCE);
  out.set(fields.encryptedCookie, COOKIE_REPLY_COOKIE);
  return out;
}

export function decodeCookieReply(message: Uint8Array): CookieReplyFields | null {
  if (messageType(message, 0, message.length) !== MESSAGE_COOKIE_REPLY) return null;
  return {
    receiver: readU32(message, COOKIE_REPLY_RECEIVER),
    nonce: message.subarray(COOKIE_REPLY_NONCE, COOKIE_REPLY_COOKIE),
    encryptedCookie: message.subarray(COOKIE_REPLY_COOKIE, MESSAGE_COOKIE_REPLY_SIZE),
  };
}

/** Writes a transport header at `buffer[offset, offset+16)`; the counter as two 32-bit words. */
export function writeTransportHeader(buffer: Uint8Array, offset: number, receiver: number, counterLo: number, counterHi: number): void {
  buffer[offset] = MESSAGE_TRANSPORT;
  buffer[offset + 1] = 0;
  buffer[offset + 2] = 0;
  buffer[offset + 3] = 0;
  writeU32(buffer, offset + TRANSPORT_RECEIVER, receiver);
  writeU32(buffer, offset + TRANSPORT_COUNTER, counterLo);
  writeU32(buffer, offset + TRANSPORT_COUNTER + 4, counterHi);
}
