/**
 * Which tunnels' scripts (PreUp, PostUp, PreDown, PostDown) the helper runs. They run as root,
 * and any member of the wirelane group may import or edit a tunnel, so a member must never be
 * able to choose what runs: scripts run only when root approved them for that tunnel, and the
 * approval is pinned to their exact text. `wirelane scripts allow NAME`, run as root, stores the
 * SHA-256 of the tunnel's name and script lines (scriptsDigest) in the tunnel's metadata; the
 * launcher computes the digest again of the file it brings up, and runs the scripts only when
 * they match. Any change to a script line, its order or hook, or the tunnel's name (%i) voids
 * the approval; `update` also drops it, so an edit always needs a new approval.
 * There is no machine-wide switch: only these per-tunnel approvals count.
 */
import { createHash } from 'node:crypto';
import type { TunnelConfig } from '../conf/types.js';
import type { TunnelScripts } from './protocol.js';

/** What an approval keeps in the tunnel's metadata. */
export interface ScriptsApproval {
  /** Hex SHA-256 of scriptsDigest's input. */
  sha256: string;
  /** The uid that approved (always 0 today). */
  by: number;
  /** Unix ms. */
  at: number;
}

export function hasScripts(config: TunnelConfig): boolean {
  const iface = config.interface;
  return iface.preUp.length + iface.postUp.length + iface.preDown.length + iface.postDown.length > 0;
}

/**
 * The digest an approval is pinned to: the tunnel's name (it becomes %i) and every hook command
 * as the parser read it, hook by hook in a fixed order, in a framing no command can imitate
 * (JSON of the lists: a command cannot end its list or start the next one).
 */
export function scriptsDigest(name: string, config: TunnelConfig): string {
  const iface = config.interface;
  const canonical = JSON.stringify({ name, PreUp: iface.preUp, PostUp: iface.postUp, PreDown: iface.preDown, PostDown: iface.postDown });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** Whether `approval` (from the metadata) is for exactly these scripts of this tunnel. */
export function scriptsApproved(name: string, config: TunnelConfig, approval: ScriptsApproval | undefined): boolean {
  return approval !== undefined && hasScripts(config) && approval.sha256 === scriptsDigest(name, config);
}

/** The command an administrator runs to approve the scripts of `name`. */
export function approveCommandFor(name: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? `wirelane scripts allow ${name}` : `sudo wirelane scripts allow ${name}`;
}

/** What the tunnel list says about a tunnel's scripts: null when it has none. */
export function scriptsSummary(name: string, config: TunnelConfig, approval: ScriptsApproval | undefined): TunnelScripts | null {
  if (!hasScripts(config)) return null;
  return { present: true, approved: scriptsApproved(name, config, approval), approveCommand: approveCommandFor(name) };
}
