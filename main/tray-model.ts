/**
 * The tray as a pure function of state: which icon, which tooltip, which menu. index.ts turns
 * the items into Electron MenuItems and the `action` values into calls; nothing here knows
 * Electron, so every state is tested under Node.
 */
import type { TunnelStatus, TunnelSummary } from '../engine/helper/protocol.js';
import type { HelperAvailability } from './ipc-schema.js';

export type TrayIconState = 'disconnected' | 'connecting' | 'connected';

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

/** The tray icon shows the "most connected" state of any tunnel. */
export function trayIconState(tunnels: readonly TunnelSummary[]): TrayIconState {
  if (tunnels.some((t) => t.status.status.state === 'connected')) return 'connected';
  if (tunnels.some((t) => t.status.status.state === 'connecting' || t.status.status.state === 'reconnecting')) return 'connecting';
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
  const icon = trayIconState(input.tunnels);
  const iconFile = `tray-${icon}${input.platform === 'darwin' ? 'Template' : ''}.png`;
  const connected = input.tunnels.filter((t) => t.status.status.state === 'connected').map((t) => t.name);
  const reconnecting = input.tunnels.filter((t) => t.status.status.state === 'reconnecting').map((t) => t.name);
  const problem = helperLine(input.helper);
  const parts = [
    ...(connected.length > 0 ? [`connected to ${connected.join(', ')}`] : []),
    // A tunnel whose server stopped answering is not "connected", whatever the others do.
    ...(reconnecting.length > 0 ? [`${reconnecting.join(', ')} not answering, reconnecting`] : []),
  ];
  const tooltip = problem
    ? `Wirelane: ${problem.replace(/…$/, '')}`
    : parts.length > 0
      ? `Wirelane: ${parts.join('; ')}`
      : icon === 'connecting'
        ? 'Wirelane: connecting'
        : 'Wirelane: disconnected';

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
  return { icon, iconFile, tooltip, items };
}
