import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { TunnelSummary } from '../../engine/helper/protocol.js';
import type { WirelaneApi } from '../../main/ipc-schema.js';

import { TunnelPage } from '../../renderer/src/components/TunnelPage.js';

afterEach(cleanup);

const NOW = 1_800_000_000_000;
const KEY = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

function tunnel(overrides: Partial<TunnelSummary> = {}, state: TunnelSummary['status']['status'] = { state: 'connected', since: NOW - 60_000 }): TunnelSummary {
  return {
    name: 'office',
    publicKey: KEY,
    addresses: ['10.0.0.1/32'],
    endpoints: ['vpn.example.com:51820'],
    hasScripts: false,
    fullTunnel: false,
    killSwitch: false,
    status: { name: 'office', status: state, latestHandshake: NOW - 12_000, rxBytes: 1536, txBytes: 3 * 1024 * 1024, endpoint: '192.0.2.1:51820' },
    ...overrides,
  };
}

function fakeApi(): WirelaneApi & Record<string, ReturnType<typeof vi.fn>> {
  const ok = (value: unknown) => vi.fn(async () => ({ ok: true, value }));
  return {
    getTunnel: ok({ tunnel: tunnel(), confText: `[Interface]\nPrivateKey = (hidden)\nListenPort = 51820\nDNS = 10.0.0.53\n\n[Peer]\nPublicKey = ${KEY}\nEndpoint = vpn.example.com:51820\nAllowedIPs = 10.0.0.0/24\nPersistentKeepalive = 25\n` }),
    connectTunnel: ok({}),
    disconnectTunnel: ok({}),
    deleteTunnel: ok({}),
    copyPublicKey: ok(null),
    exportTunnels: ok({ savedTo: '/home/me/office.conf' }),
    getLogs: ok({ name: 'office', entries: [] }),
    setKillSwitch: ok({}),
    getTunnelDetails: ok({
      status: {},
      device: {
        interfaceName: 'office',
        publicKey: KEY,
        listenPort: 51820,
        fwmark: 0,
        peers: [{ publicKey: KEY, hasPresharedKey: false, endpoint: '192.0.2.1:51820', allowedIps: ['10.0.0.0/24'], latestHandshake: NOW - 7_000, rxBytes: 2048, txBytes: 4096, persistentKeepalive: 25 }],
      },
    }),
    onLog: vi.fn(() => () => {}),
  } as unknown as WirelaneApi & Record<string, ReturnType<typeof vi.fn>>;
}

const page = (t: TunnelSummary, api = fakeApi(), handlers: { onDelete?: () => void; notify?: (text: string, kind?: string) => void } = {}) =>
  render(
    <TunnelPage
      tunnel={t}
      rates={[]}
      wirelane={api}
      now={NOW}
      onEdit={() => {}}
      onRename={() => {}}
      onDelete={handlers.onDelete ?? (() => {})}
      onExport={() => {}}
      onShowLog={() => {}}
      notify={handlers.notify ?? (() => {})}
    />,
  );

describe('TunnelPage', () => {
  it('shows state large with how long, the totals, the public key, and each peer with its own handshake, transfer and endpoint', async () => {
    page(tunnel());
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Connected');
    expect(screen.getByTestId('state-detail').textContent).toBe('Connected for 1 min 00 s');
    expect(screen.getByTestId('handshake-age').textContent).toBe('12 seconds ago');
    expect(screen.getByTestId('rx').textContent).toBe('1.50 KiB received');
    expect(screen.getByTestId('tx').textContent).toBe('3.00 MiB sent');
    expect(screen.getByTestId('public-key').textContent).toBe(KEY);
    await waitFor(() => expect(screen.getByTestId('peer-handshake').textContent).toBe('7 seconds ago'));
    expect(screen.getByTestId('peer-rx').textContent).toBe('2.00 KiB');
    expect(screen.getByTestId('peer-tx').textContent).toBe('4.00 KiB');
    expect(screen.getByTestId('peer-endpoint').textContent).toBe('192.0.2.1:51820');
    expect(screen.getByText('10.0.0.0/24')).toBeTruthy();
    expect(screen.getByText('10.0.0.53')).toBeTruthy();
    // Disconnect is the secondary action of a connected tunnel.
    expect(screen.getByRole('button', { name: 'Disconnect office' }).className).toContain('secondary');
  });

  it('Connect is the filled main action of a tunnel that is off; a connect in progress can be cancelled', async () => {
    const api = fakeApi();
    const { rerender } = page(tunnel({}, { state: 'disconnected' }), api);
    expect(screen.getByRole('button', { name: 'Connect office' }).className).toContain('primary');
    rerender(
      <TunnelPage tunnel={tunnel({}, { state: 'connecting', since: NOW - 9_000 })} rates={[]} wirelane={api} now={NOW} onEdit={() => {}} onRename={() => {}} onDelete={() => {}} onExport={() => {}} onShowLog={() => {}} notify={() => {}} />,
    );
    expect(screen.getByTestId('state-detail').textContent).toMatch(/not answered yet \(9 s\)/);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Cancel connecting office' })));
    expect(api.disconnectTunnel).toHaveBeenCalledWith('office');
  });

  it('a failed connect is said once: as the state, not again as an error notice', async () => {
    const api = fakeApi();
    api.connectTunnel = vi.fn(async () => ({ ok: false as const, error: { code: 'connect_failed' as const, message: "tunnel 'office' failed to connect: cannot resolve vpn.example.com" } }));
    const notify = vi.fn();
    page(tunnel({}, { state: 'failed', reason: 'cannot resolve vpn.example.com' }), api, { notify });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Connect office' })));
    expect(notify).not.toHaveBeenCalled();
    expect(screen.getAllByText(/cannot resolve vpn.example.com/)).toHaveLength(1);
  });

  it('a reconnecting tunnel says for how long its server has not answered', () => {
    page(tunnel({}, { state: 'reconnecting', since: NOW - 600_000, unansweredSince: NOW - 20_000 }));
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Reconnecting…');
    expect(screen.getByTestId('state-detail').textContent).toMatch(/^Not answering for 20 s/);
    expect(screen.getByRole('button', { name: 'Disconnect office' })).toBeTruthy();
  });

  it('a tunnel whose server stopped answering says Reconnecting and for how long, still switched on; connecting is not Connected', () => {
    page(tunnel({}, { state: 'reconnecting', since: NOW - 600_000, unansweredSince: NOW - 17_000 }));
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Reconnecting…');
    expect(screen.getByTestId('state-detail').textContent).toMatch(/^Not answering for 17 s/);
    expect(document.querySelector('.hero')?.className).toContain('state-reconnecting');
    expect(screen.getByRole('button', { name: 'Disconnect office' })).toBeTruthy();
    cleanup();
    page(tunnel({}, { state: 'connecting', since: NOW - 30_000 }));
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Connecting…');
    expect(document.body.textContent).not.toMatch(/Connected/);
  });

  it('a tunnel that never handshook says Never; a failed one shows the reason', () => {
    const t = tunnel({}, { state: 'failed', reason: 'cannot resolve vpn.example.com' });
    page({ ...t, status: { ...t.status, latestHandshake: null } });
    expect(screen.getByTestId('handshake-age').textContent).toBe('Never');
    expect(screen.getByRole('alert').textContent).toBe('cannot resolve vpn.example.com');
  });

  it('shows the scripts’ approval as the helper reports it', () => {
    page(tunnel({ hasScripts: true, scripts: { present: true, approved: false, approveCommand: 'sudo wirelane scripts allow office' } }));
    expect(screen.getByTestId('scripts-status').textContent).toMatch(/kept but not run.*sudo wirelane scripts allow office/);
  });

  it('copies the key, turns the kill switch, and asks the window to confirm a delete', async () => {
    const api = fakeApi();
    const onDelete = vi.fn();
    const notify = vi.fn();
    page(tunnel({}, { state: 'disconnected' }), api, { onDelete, notify });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Copy public key' })));
    expect(api.copyPublicKey).toHaveBeenCalledWith(KEY);
    expect(notify).toHaveBeenCalledWith('Public key copied.', 'info');
    await act(async () => fireEvent.click(screen.getByRole('checkbox', { name: /Kill switch/ })));
    expect(api.setKillSwitch).toHaveBeenCalledWith('office', true);
    fireEvent.click(screen.getByRole('button', { name: 'Delete…' }));
    expect(onDelete).toHaveBeenCalled();
    expect(api.deleteTunnel).not.toHaveBeenCalled();
  });

  it('editing, renaming and deleting wait until the tunnel is off', () => {
    page(tunnel());
    for (const name of ['Edit', 'Rename', 'Delete…']) expect(screen.getByRole<HTMLButtonElement>('button', { name }).disabled).toBe(true);
  });
});
