/**
 * The WireGuard protocol core (sans-I/O). engine/device builds on these; nothing here touches
 * sockets, timers or clocks.
 */
export type { ConsumedInitiation, CookieChecker, IndexTable, LocalIdentity, PeerSession, PeerSessionOptions } from './api.js';
export { createLocalIdentity, consumeInitiation, type NoiseIdentity } from './handshake.js';
export { DeviceCookieChecker, CookieGenerator } from './cookie.js';
export { NoisePeerSession, createPeerSession } from './peer-session.js';
export { ReplayWindow } from './replay.js';
export { tai64n, isAfter as tai64nIsAfter } from './tai64n.js';
export { messageType, receiverIndex } from './messages.js';
export * as constants from './constants.js';
