/**
 * What a tunnel's state means to a person, in words: the label, the line under it, whether it
 * is on, and what the whole window's banner says about protection. Pure, so the tunnel page,
 * the list and the banner agree, and component tests can check every case.
 */
import type { TunnelScripts, TunnelState, TunnelSummary } from './contract.js';
import { formatDuration } from './format.js';

/** Turned on by the person: connecting, connected or reconnecting (a failed one is off but may still block). */
export function isOn(state: TunnelState): boolean {
  return state.state === 'connecting' || state.state === 'connected' || state.state === 'reconnecting';
}

function secondsSince(ms: number, now: number): number {
  return Math.max(0, Math.round((now - ms) / 1000));
}

/** "Connected", "Connecting…", "Reconnecting…", "Failed", "Disconnected". */
export function stateLabel(tunnel: TunnelSummary): string {
  const state = tunnel.status.status;
  switch (state.state) {
    case 'connected':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return 'Reconnecting…';
    case 'failed':
      return 'Failed';
    case 'disconnected':
      return 'Disconnected';
  }
}

/** The line under the state: for how long, and what is going on. */
export function stateDetail(tunnel: TunnelSummary, now: number): string {
  const state = tunnel.status.status;
  switch (state.state) {
    case 'connected':
      return `Connected for ${formatDuration(now - state.since)}`;
    case 'connecting': {
      const waited = secondsSince(state.since, now);
      return waited < 5 ? 'Waiting for the server to answer…' : `The server has not answered yet (${waited} s). Check the endpoint and that the server runs.`;
    }
    case 'reconnecting':
      return `Not answering for ${secondsSince(state.unansweredSince, now)} s. Trying again…`;
    case 'failed':
      return 'The tunnel stopped. Connect again, or edit the configuration.';
    case 'disconnected':
      return tunnel.fullTunnel ? 'Off. Connect to send all traffic through this tunnel.' : 'Off. Connect to reach the networks behind this tunnel.';
  }
}

/** The tunnel's scripts and their approval, when it has any (absent from older helpers). */
export function scriptsOf(tunnel: TunnelSummary): TunnelScripts | null {
  return tunnel.scripts?.present ? tunnel.scripts : null;
}

export type ProtectionLevel = 'protected' | 'partial' | 'busy' | 'warning' | 'unprotected' | 'unknown';

export interface Protection {
  level: ProtectionLevel;
  title: string;
  detail: string;
}

/** The window-wide banner: is anything protected right now, and if not, why. */
export function protectionOf(tunnels: readonly TunnelSummary[], helperRunning: boolean, now: number): Protection {
  if (!helperRunning) return { level: 'unknown', title: 'Protection unknown', detail: 'The Wirelane service is not answering.' };
  const byState = (name: TunnelState['state']) => tunnels.filter((t) => t.status.status.state === name);
  const connected = byState('connected');
  const reconnecting = byState('reconnecting');
  const failed = byState('failed');
  const connecting = byState('connecting');
  const names = (list: readonly TunnelSummary[]) => list.map((t) => t.name).join(', ');
  const others = connected.length > 0 ? ` ${names(connected)} ${connected.length === 1 ? 'is' : 'are'} connected.` : '';
  if (reconnecting.length > 0) {
    const first = reconnecting[0]!;
    const state = first.status.status;
    const seconds = state.state === 'reconnecting' ? secondsSince(state.unansweredSince, now) : 0;
    const blocked = first.killSwitch ? 'The kill switch blocks traffic until it answers.' : 'Traffic may leave outside the tunnel.';
    return { level: 'warning', title: `Reconnecting ${first.name}`, detail: `Its server has not answered for ${seconds} s. ${blocked}${others}` };
  }
  if (failed.length > 0) {
    const first = failed[0]!;
    const blocked = first.killSwitch ? ' Its kill switch blocks traffic until you turn it off.' : '';
    // The reason itself is on the tunnel's page: said once, not here again.
    return { level: 'warning', title: `Not protected: ${first.name} failed`, detail: `Turn it off or connect it again.${blocked}${others}` };
  }
  const full = connected.filter((t) => t.fullTunnel);
  if (full.length > 0) return { level: 'protected', title: 'Protected', detail: `All traffic goes through ${names(full)}.${connected.length > full.length ? ` ${names(connected.filter((t) => !t.fullTunnel))} also connected.` : ''}` };
  if (connecting.length > 0) return { level: 'busy', title: `Connecting ${names(connecting)}…`, detail: `Not protected until the server answers.${others}` };
  if (connected.length > 0)
    return { level: 'partial', title: `Protected for ${names(connected)}`, detail: 'Traffic to the tunnel’s networks goes through it; other traffic does not.' };
  return { level: 'unprotected', title: 'Not protected', detail: tunnels.length === 0 ? 'No tunnel yet.' : 'No tunnel is on.' };
}
