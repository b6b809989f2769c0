/**
 * Where the helper listens on each platform (DESIGN.md, "engine/bin/wirelane-helper"), and how
 * to tell "not installed" from "not running": an installed service has created its socket's
 * folder (Linux, macOS) or, on Windows, its data folder under %ProgramData%.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function defaultHelperSocket(platform: NodeJS.Platform): string {
  if (platform === 'win32') return '\\\\.\\pipe\\wirelane-helper';
  if (platform === 'darwin') return '/var/run/wirelane/helper.sock';
  return '/run/wirelane/helper.sock';
}

export function helperLooksInstalled(platform: NodeJS.Platform, socketPath: string, env: NodeJS.ProcessEnv): boolean {
  if (platform === 'win32') return existsSync(join(env['ProgramData'] ?? 'C:\\ProgramData', 'Wirelane'));
  return existsSync(dirname(socketPath));
}

