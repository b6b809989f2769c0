/**
 * The tray as a pure function of state: which icon, which tooltip, which menu. index.ts turns
 * the items into Electron MenuItems and the `action` values into calls; nothing here knows
 * Electron, so every state is tested under Node.
 */
import type { TunnelStatus, TunnelSummary } from '../engine/helper/protocol.js';
import type { HelperAvailability } from './ipc-schema.js';

/** One per icon in build/tray (drawn by scripts/tray-icons.ts). */
export type TrayIconState = 'connected' | 'connecting' | 'reconnecting' | 'failed' | 'helper-down' | 'disconnected';

export type TrayAction =
  | { type: 'connect'; name: string }
  | { type: 'disconnect'; name: string }
  | { type: 'import' }
  | { type: 'manage' }
  | { type: 'toggle-launch-at-login'; enabled: boolean }
  | { type: 'quit' };

export type TrayItem =
  | { kind: 'separator' }
  /** A line of information; never clickable. */
  | { kind: 'label'; label: string }
  /** A checkbox: one per tunnel, and launch at login. */
  | { kind: 'checkbox'; label: string; checked: boolean; enabled: boolean; action: TrayAction }
  | { kind: 'action'; label: string; action: TrayAction };

export interface TrayModel {
  icon: TrayIconState;
  /** File name of the icon under the tray icon folder; macOS gets template images. */
  iconFile: string;
  tooltip: string;
  /**
   * Whether a left click on the icon opens the window. Windows and Linux users expect that (the
   * menu is on the right button); on macOS a click opens the menu, as every menu bar extra does.
   */
  clickOpensWindow: boolean;
  items: TrayItem[];
}

export interface TrayInput {
  helper: HelperAvailability;
  tunnels: readonly TunnelSummary[];
  launchAtLogin: boolean;
  platform: NodeJS.Platform;
}

/**
 * Whether a status update changes what the tray shows. The tray shows each tunnel's name and state
 * only, so the live counters that arrive every second do not rebuild the menu.
 */
export function trayStatesChanged(previous: readonly TunnelStatus[], next: readonly TunnelStatus[]): boolean {
  if (previous.length !== next.length) return true;
  return previous.some((before, i) => {
    const after = next[i]!;
    return before.name !== after.name || before.status.state !== after.status.state;
  });
}

/**
 * The icon: the helper being unreachable first (nothing below is known then), then a tunnel that
 * was up and lost its peer (traffic may not be protected: worth seeing even beside a good one),
 * then the most connected state of any tunnel; a failure shows only while nothing is on.
 */
export function trayIconState(helper: HelperAvailability, tunnels: readonly TunnelSummary[]): TrayIconState {
  if (helper.state === 'not_running' || helper.state === 'not_installed' || helper.state === 'refused') return 'helper-down';
  const has = (state: string) => tunnels.some((t) => t.status.status.state === state);
  if (has('reconnecting')) return 'reconnecting';
  if (has('connected')) return 'connected';
  if (has('connecting')) return 'connecting';
  if (has('failed')) return 'failed';
  return 'disconnected';
}

function stateWord(tunnel: TunnelSummary): string {
  const state = tunnel.status.status;
  switch (state.state) {
    case 'connected':
      return 'connected';
    case 'connecting':
      return 'connecting…';
    case 'reconnecting':
      return 'reconnecting…';
    case 'failed':
      return 'failed';
    case 'disconnected':
      return 'off';
  }
}

function helperLine(helper: HelperAvailability): string | null {
  switch (helper.state) {
    case 'running':
      return null;
    case 'connecting':
      return 'Connecting to the Wirelane service…';
    case 'not_installed':
      return 'Wirelane service not installed';
    case 'not_running':
      return 'Wirelane service not running';
    case 'refused':
      return 'Wirelane service refused this user';
  }
}

export function trayModel(input: TrayInput): TrayModel {
  const icon = trayIconState(input.helper, input.tunnels);
  const iconFile = `tray-${icon}${input.platform === 'darwin' ? 'Template' : ''}.png`;
  const named = (state: string) => input.tunnels.filter((t) => t.status.status.state === state).map((t) => t.name);
  const connected = named('connected');
  const reconnecting = named('reconnecting');
  const problem = helperLine(input.helper);
  const parts: string[] = [];
  if (connected.length > 0) parts.push(`connected to ${connected.join(', ')}`);
  // A tunnel whose server stopped answering is not "connected", whatever the others do.
  if (reconnecting.length > 0) parts.push(`${reconnecting.join(', ')} not answering, reconnecting`);
  if (parts.length === 0 && icon === 'connecting') parts.push('connecting');
  if (parts.length === 0 && icon === 'failed') parts.push(`${named('failed').join(', ')} failed`);
  const tooltip = problem ? `Wirelane: ${problem.replace(/…$/, '')}` : `Wirelane: ${parts.length > 0 ? parts.join('; ') : 'disconnected'}`;

  const items: TrayItem[] = [];
  if (problem) {
    items.push({ kind: 'label', label: problem });
  } else if (input.tunnels.length === 0) {
    items.push({ kind: 'label', label: 'No tunnels yet' });
  } else {
    for (const tunnel of input.tunnels) {
      const state = tunnel.status.status.state;
      const on = state === 'connected' || state === 'connecting' || state === 'reconnecting';
      items.push({
        kind: 'checkbox',
        label: `${tunnel.name} — ${stateWord(tunnel)}`,
        checked: on,
        enabled: true,
        action: on ? { type: 'disconnect', name: tunnel.name } : { type: 'connect', name: tunnel.name },
      });
    }
  }
  items.push({ kind: 'separator' });
  items.push({ kind: 'action', label: 'Import tunnel from file…', action: { type: 'import' } });
  items.push({ kind: 'action', label: 'Manage tunnels…', action: { type: 'manage' } });
  items.push({ kind: 'separator' });
  items.push({
    kind: 'checkbox',
    label: 'Launch at login',
    checked: input.launchAtLogin,
    enabled: true,
    action: { type: 'toggle-launch-at-login', enabled: !input.launchAtLogin },
  });
  items.push({ kind: 'action', label: 'Quit Wirelane', action: { type: 'quit' } });
  return { icon, iconFile, tooltip, clickOpensWindow: input.platform !== 'darwin', items };
}
