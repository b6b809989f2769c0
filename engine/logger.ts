/**
 * The logger every engine part is handed (never a global). Messages are plain sentences;
 * keys never appear in them unredacted (see redactKey).
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A key as it may appear in logs: the first 4 base64 characters of its public form, or <redacted> for secrets. */
export function redactKey(): string {
  return '<redacted>';
}
