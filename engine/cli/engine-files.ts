/**
 * Which files the wirelane-engine daemon owns, decided from its argument, the environment and
 * the name the OS gave its TUN device - kept apart from the command so it can be tested.
 *
 * - Linux: the interface is called what was asked; UAPI socket /var/run/wireguard/NAME.sock.
 * - macOS: the kernel names utun interfaces. wg-quick runs `wireguard-go utun` with
 *   WG_TUN_NAME_FILE=/var/run/wireguard/<config>.name and reads the real name (utunN) from that
 *   file; `wg` does the same to map the config's name to the interface. wireguard-go writes the
 *   file only when it was asked for plain "utun" (its README: "If you choose utun as the
 *   interface name, and the environment variable WG_TUN_NAME_FILE is defined, then the actual
 *   name of the interface chosen by the kernel is written to the file"), and serves its UAPI
 *   socket under the real name: /var/run/wireguard/utunN.sock.
 * - Windows: the UAPI is a named pipe (see uapiSocketPath); there is no name file.
 */
import { uapiSocketPath } from '../uapi/server.js';

export interface EngineFiles {
  /** Where the UAPI is served. */
  socketPath: string;
  /** Whether socketPath is a file in a directory we may have to create (not a named pipe). */
  socketIsFile: boolean;
  /** The file to write the real interface name into (and remove on exit), or null. */
  nameFile: string | null;
}

export function engineFiles(
  requestedName: string,
  tunName: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): EngineFiles {
  const nameFileEnv = env['WG_TUN_NAME_FILE'];
  const nameFile = platform === 'darwin' && requestedName === 'utun' && nameFileEnv ? nameFileEnv : null;
  return {
    socketPath: uapiSocketPath(tunName, undefined, platform),
    socketIsFile: platform !== 'win32',
    nameFile,
  };
}
