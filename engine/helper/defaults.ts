/** Where the helper listens and keeps its store by default, per platform (DESIGN.md). */
import { win32 } from 'node:path';

export interface HelperDefaults {
  socket: string;
  store: string;
}

/** DESIGN.md's per-platform defaults. */
export function helperDefaults(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): HelperDefaults {
  switch (platform) {
    case 'darwin':
      return { socket: '/var/run/wirelane/helper.sock', store: '/Library/Application Support/Wirelane' };
    case 'win32':
      return { socket: '\\\\.\\pipe\\wirelane-helper', store: win32.join(env['ProgramData'] ?? 'C:\\ProgramData', 'Wirelane') };
    default:
      return { socket: '/run/wirelane/helper.sock', store: '/var/lib/wirelane' };
  }
}
