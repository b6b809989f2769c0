/**
 * The logger every engine part is handed (never a global). Messages are plain sentences; private
 * and preshared keys never appear in them, and peers are named by a short prefix of their public
 * key (as engine/device/device.ts peerName does).
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

