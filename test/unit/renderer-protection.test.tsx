import { describe, expect, it } from 'vitest';
import type { TunnelSummary } from '../../engine/helper/protocol.js';
import { protectionOf } from '../../renderer/src/tunnel-state.js';

const NOW = 1_800_000_000_000;

function tunnel(name: string, state: TunnelSummary['status']['status'], extra: Partial<TunnelSummary> = {}): TunnelSummary {
  return {
    name,
    publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
    addresses: [],
    endpoints: [],
    hasScripts: false,
    fullTunnel: false,
    killSwitch: false,
    status: { name, status: state, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null },
    ...extra,
  };
}

describe('the protection banner', () => {
  it('says plainly whether anything is protected', () => {
    expect(protectionOf([], true, NOW).title).toBe('Not protected');
    expect(protectionOf([tunnel('a', { state: 'disconnected' })], true, NOW)).toMatchObject({ level: 'unprotected', detail: 'No tunnel is on.' });
    expect(protectionOf([tunnel('a', { state: 'connected', since: NOW })], true, NOW)).toMatchObject({ level: 'partial', title: 'Protected for a' });
    expect(protectionOf([tunnel('a', { state: 'connected', since: NOW }, { fullTunnel: true })], true, NOW)).toMatchObject({ level: 'protected', title: 'Protected', detail: 'All traffic goes through a.' });
    expect(protectionOf([tunnel('a', { state: 'connected', since: NOW })], false, NOW).level).toBe('unknown');
  });

  it('a connect that has not been answered is not protection', () => {
    expect(protectionOf([tunnel('a', { state: 'connecting', since: NOW - 9000 }, { fullTunnel: true })], true, NOW)).toMatchObject({ level: 'busy', title: 'Connecting a…' });
  });

  it('reconnecting and failed come first, with what the kill switch does', () => {
    const tunnels = [
      tunnel('a', { state: 'connected', since: NOW }, { fullTunnel: true }),
      tunnel('b', { state: 'reconnecting', since: NOW - 60_000, unansweredSince: NOW - 20_000 }, { killSwitch: true }),
    ];
    expect(protectionOf(tunnels, true, NOW)).toEqual({
      level: 'warning',
      title: 'Reconnecting b',
      detail: 'Its server has not answered for 20 s. The kill switch blocks traffic until it answers. a is connected.',
    });
    const failed = protectionOf([tunnel('c', { state: 'failed', reason: 'cannot resolve vpn.example.com' })], true, NOW);
    expect(failed.title).toBe('Not protected: c failed');
    // The reason is said on the tunnel's page, once.
    expect(failed.detail).not.toContain('cannot resolve');
  });
});
