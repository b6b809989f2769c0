/**
 * Picks the crypto backend for a device.
 *
 * Default: sodium (libsodium, several times faster) when its native module loads and passes a
 * self-test, else noble (pure JavaScript, always there). The environment variable
 * WIRELANE_CRYPTO=noble|sodium overrides the caller's choice, so a user or a test can force
 * either without a code change. Asking for sodium when it cannot load falls back to noble;
 * `selectCryptoBackend` says why, for the caller to log.
 */
import type { CryptoBackend, CryptoBackendName } from './backend.js';
import { nobleBackend } from './noble.js';
import { loadSodiumBackend, type SodiumLoadResult } from './sodium.js';

export { nobleBackend };
export type { CryptoBackend, CryptoBackendName };

/** The environment variable that overrides the backend choice. */
export const CRYPTO_BACKEND_ENV = 'WIRELANE_CRYPTO';

let sodiumLoad: SodiumLoadResult | undefined;

/** sodium-native is loaded once per process; later calls reuse the result. */
function sodiumOnce(): SodiumLoadResult {
  sodiumLoad ??= loadSodiumBackend();
  return sodiumLoad;
}

function parseName(value: string | undefined): CryptoBackendName | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'noble' || value === 'sodium') return value;
  throw new Error(`${CRYPTO_BACKEND_ENV} must be "noble" or "sodium", not "${value}"`);
}

/** The chosen backend, and when it is not the one asked for, why. */
export interface BackendSelection {
  readonly backend: CryptoBackend;
  /** Why noble was returned although sodium was wanted; null when nothing fell back. */
  readonly fallbackReason: string | null;
}

/**
 * The backend to use: `name` if given, overridden by WIRELANE_CRYPTO, else sodium when it loads.
 * Never throws for a missing native module (it falls back to noble and says why); throws only
 * for an invalid WIRELANE_CRYPTO value, a configuration mistake worth stopping on.
 */
export function selectCryptoBackend(name?: CryptoBackendName): BackendSelection {
  const wanted = parseName(process.env[CRYPTO_BACKEND_ENV]) ?? name ?? 'sodium';
  if (wanted === 'noble') return { backend: nobleBackend, fallbackReason: null };
  const sodium = sodiumOnce();
  if (sodium.ok) return { backend: sodium.backend, fallbackReason: null };
  return { backend: nobleBackend, fallbackReason: sodium.reason };
}

/** selectCryptoBackend(name).backend; use selectCryptoBackend to log a fallback. */
export function loadCryptoBackend(name?: CryptoBackendName): CryptoBackend {
  return selectCryptoBackend(name).backend;
}

/** Whether sodium-native is usable in this process, and if not, why. */
export function sodiumAvailability(): { available: true } | { available: false; reason: string } {
  const sodium = sodiumOnce();
  return sodium.ok ? { available: true } : { available: false, reason: sodium.reason };
}
