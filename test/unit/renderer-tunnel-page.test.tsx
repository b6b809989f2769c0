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
    onLog: vi.fn(() => () => {}),
  } as unknown as WirelaneApi & Record<string, ReturnType<typeof vi.fn>>;
}

const page = (t: TunnelSummary, api = fakeApi(), onDeleted = () => {}) =>
  render(<TunnelPage tunnel={t} rates={[]} wirelane={api} now={NOW} onEdit={() => {}} onRename={() => {}} onDeleted={onDeleted} />);

describe('TunnelPage', () => {
  it('shows state, handshake age, transfer, endpoint, public key and the peers of the file', async () => {
    page(tunnel());
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Connected');
    expect(screen.getByTestId('handshake-age').textContent).toBe('12 seconds ago');
    expect(screen.getByTestId('rx').textContent).toBe('1.50 KiB received');
    expect(screen.getByTestId('tx').textContent).toBe('3.00 MiB sent');
    expect(screen.getByTestId('endpoint').textContent).toBe('192.0.2.1:51820');
    expect(screen.getByTestId('public-key').textContent).toBe(KEY);
    await waitFor(() => expect(screen.getByText('10.0.0.0/24')).toBeTruthy());
    expect(screen.getByText('every 25 s')).toBeTruthy();
    expect(screen.getByText('10.0.0.53')).toBeTruthy();
    expect(screen.getByRole('switch', { name: 'Disconnect office' }).getAttribute('aria-checked')).toBe('true');
  });

  it('a tunnel whose server stopped answering says Reconnecting and for how long, still switched on; connecting is not Connected', () => {
    page(tunnel({}, { state: 'reconnecting', since: NOW - 600_000, unansweredSince: NOW - 17_000 }));
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Reconnecting — not answering for 17 s');
    expect(screen.getByTestId('tunnel-state').className).toContain('state-reconnecting');
    expect(screen.getByRole('switch', { name: 'Disconnect office' }).getAttribute('aria-checked')).toBe('true');
    cleanup();
    page(tunnel({}, { state: 'connecting', since: NOW - 30_000 }));
    expect(screen.getByTestId('tunnel-state').textContent).toBe('Connecting…');
  });

  it('a tunnel that never handshook says Never; a failed one shows the reason', () => {
    const t = tunnel({}, { state: 'failed', reason: 'cannot resolve vpn.example.com' });
    page({ ...t, status: { ...t.status, latestHandshake: null } });
    expect(screen.getByTestId('handshake-age').textContent).toBe('Never');
    expect(screen.getByRole('alert').textContent).toBe('cannot resolve vpn.example.com');
    expect(screen.getByRole('switch', { name: 'Connect office' }).getAttribute('aria-checked')).toBe('false');
  });

  it('warns about scripts and about a full tunnel', () => {
    page(tunnel({ hasScripts: true, fullTunnel: true }));
    const notes = screen.getAllByRole('note').map((n) => n.textContent);
    expect(notes.some((n) => n?.includes('PreUp/PostUp/PreDown/PostDown'))).toBe(true);
    expect(notes.some((n) => n?.includes('all of this computer’s traffic'))).toBe(true);
  });

  it('toggles, copies the key, and deletes only after confirmation', async () => {
    const api = fakeApi();
    const onDeleted = vi.fn();
    page(tunnel({}, { state: 'disconnected' }), api, onDeleted);
    await act(async () => fireEvent.click(screen.getByRole('switch', { name: 'Connect office' })));
    expect(api.connectTunnel).toHaveBeenCalledWith('office');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Copy public key' })));
    expect(api.copyPublicKey).toHaveBeenCalledWith(KEY);
    expect(screen.getByRole('status').textContent).toBe('Public key copied');

    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Delete office?' });
    expect(api.deleteTunnel).not.toHaveBeenCalled();
    fireEvent.click(screen.getAllByRole('button', { name: 'Cancel' })[0]!);
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(dialog).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    const confirm = screen.getAllByRole('button', { name: 'Delete' }).at(-1)!;
    await act(async () => fireEvent.click(confirm));
    expect(api.deleteTunnel).toHaveBeenCalledWith('office');
    expect(onDeleted).toHaveBeenCalled();
  });

  it('editing, renaming and deleting wait until the tunnel is off', () => {
    page(tunnel());
    for (const name of ['Edit', 'Rename', 'Delete']) expect(screen.getByRole<HTMLButtonElement>('button', { name }).disabled).toBe(true);
  });
});
