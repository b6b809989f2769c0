/**
 * One tunnel: state and toggle, interface and peers, latest handshake, traffic with its live
 * graph, warnings, and the actions (edit, rename, export, delete, log).
 */
import type { TunnelSummary, WirelaneApi } from '../contract.js';
import { useEffect, useState } from 'react';
import { errorText } from '../api.js';
import { readConfForDisplay, type ConfView } from '../conf-view.js';
import { formatBytes, formatRate, handshakeAge } from '../format.js';
import type { RateSample } from '../store.js';
import { LogView } from './LogView.js';
import { ThroughputGraph } from './ThroughputGraph.js';

export interface TunnelPageProps {
  tunnel: TunnelSummary;
  rates: readonly RateSample[];
  wirelane: WirelaneApi;
  /** Clock for the handshake age; ticks once a second. */
  now: number;
  onEdit: () => void;
  onRename: () => void;
  onDeleted: () => void;
}

/** The state in words; with `now`, a reconnecting tunnel says for how long it has not answered. */
export function stateLabel(tunnel: TunnelSummary, now?: number): string {
  const state = tunnel.status.status;
  switch (state.state) {
    case 'connected':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return now === undefined
        ? 'Reconnecting…'
        : `Reconnecting — not answering for ${Math.max(0, Math.round((now - state.unansweredSince) / 1000))} s`;
    case 'failed':
      return 'Failed';
    case 'disconnected':
      return 'Disconnected';
  }
}

export function TunnelPage({ tunnel, rates, wirelane, now, onEdit, onRename, onDeleted }: TunnelPageProps) {
  const [conf, setConf] = useState<ConfView | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const [showLog, setShowLog] = useState(false);
  const status = tunnel.status;
  const state = status.status.state;
  const on = state === 'connected' || state === 'connecting' || state === 'reconnecting';

  // Re-read the configuration when the tunnel's identity or endpoints change.
  const endpointsKey = tunnel.endpoints.join(',');
  useEffect(() => {
    let live = true;
    void wirelane.getTunnel(tunnel.name).then((result) => {
      if (live && result.ok) setConf(readConfForDisplay(result.value.confText));
    });
    return () => {
      live = false;
    };
  }, [wirelane, tunnel.name, tunnel.publicKey, endpointsKey]);

  const toggle = async () => {
    setBusy(true);
    setMessage(null);
    const result = on ? await wirelane.disconnectTunnel(tunnel.name) : await wirelane.connectTunnel(tunnel.name);
    setBusy(false);
    if (!result.ok) setMessage(errorText(result.error));
  };

  const exportTunnel = async () => {
    const result = await wirelane.exportTunnels([tunnel.name]);
    if (result.ok) setMessage(`Saved to ${result.value.savedTo}`);
    else if (result.error.code !== 'cancelled') setMessage(errorText(result.error));
  };

  const deleteTunnel = async () => {
    const result = await wirelane.deleteTunnel(tunnel.name);
    setConfirmingDelete(false);
    if (result.ok) onDeleted();
    else setMessage(errorText(result.error));
  };

  const copyKey = async () => {
    const result = await wirelane.copyPublicKey(tunnel.publicKey);
    setMessage(result.ok ? 'Public key copied' : errorText(result.error));
  };

  const latest = rates[rates.length - 1];

  return (
    <section className="tunnel-page" aria-labelledby="tunnel-title">
      <header className="tunnel-header">
        <h2 id="tunnel-title">{tunnel.name}</h2>
        <span className={`state-badge state-${state}`} data-testid="tunnel-state">
          {stateLabel(tunnel, now)}
        </span>
        <button
          type="button"
          role="switch"
          aria-checked={on}
          aria-label={`${on ? 'Disconnect' : 'Connect'} ${tunnel.name}`}
          className={`toggle ${on ? 'on' : ''}`}
          // aria-disabled, not disabled: disabling the focused button would drop keyboard focus to
          // the page each time the tunnel is toggled.
          aria-disabled={busy}
          onClick={() => {
            if (!busy) void toggle();
          }}
        >
          {on ? 'Disconnect' : 'Connect'}
        </button>
      </header>

      {status.status.state === 'failed' && (
        <p className="error-text" role="alert">
          {status.status.reason}
        </p>
      )}
      {message && (
        <p className="note" role="status">
          {message}
        </p>
      )}
      {tunnel.hasScripts && (
        <p className="warning" role="note">
          This file has PreUp/PostUp/PreDown/PostDown commands. Wirelane keeps them but runs them only where an administrator
          has enabled scripts on this computer.
        </p>
      )}
      {tunnel.fullTunnel && (
        <p className="warning" role="note">
          Full tunnel: AllowedIPs include 0.0.0.0/0 or ::/0, so all of this computer’s traffic goes through {tunnel.name} while it is on.
        </p>
      )}

      <h3>Interface</h3>
      <dl className="facts">
        <dt>Public key</dt>
        <dd>
          <code data-testid="public-key">{tunnel.publicKey}</code>{' '}
          <button type="button" className="small" onClick={() => void copyKey()} aria-label="Copy public key">
            Copy
          </button>
        </dd>
        <dt>Addresses</dt>
        <dd>{tunnel.addresses.join(', ') || '—'}</dd>
        {conf?.listenPort && (
          <>
            <dt>Listen port</dt>
            <dd>{conf.listenPort}</dd>
          </>
        )}
        {conf?.dns && (
          <>
            <dt>DNS</dt>
            <dd>{conf.dns}</dd>
          </>
        )}
        {conf?.mtu && (
          <>
            <dt>MTU</dt>
            <dd>{conf.mtu}</dd>
          </>
        )}
      </dl>

      <h3>Status</h3>
      <dl className="facts">
        <dt>Latest handshake</dt>
        <dd data-testid="handshake-age">{handshakeAge(status.latestHandshake, now)}</dd>
        <dt>Endpoint</dt>
        <dd data-testid="endpoint">{status.endpoint ?? (tunnel.endpoints.join(', ') || '—')}</dd>
        <dt>Transfer</dt>
        <dd data-testid="transfer">
          <span data-testid="rx">{formatBytes(status.rxBytes)} received</span>, <span data-testid="tx">{formatBytes(status.txBytes)} sent</span>
        </dd>
        {latest && on && (
          <>
            <dt>Now</dt>
            <dd>
              ↓ {formatRate(latest.rxPerSecond)} ↑ {formatRate(latest.txPerSecond)}
            </dd>
          </>
        )}
      </dl>
      <ThroughputGraph samples={rates} now={now} label={`Throughput of ${tunnel.name}`} />

      <h3>Peers</h3>
      {conf === null ? (
        <p className="muted">Loading…</p>
      ) : conf.peers.length === 0 ? (
        <p className="muted">No peers.</p>
      ) : (
        <ul className="peers">
          {conf.peers.map((peer, index) => (
            <li key={index}>
              <dl className="facts">
                <dt>Public key</dt>
                <dd>
                  <code>{peer.publicKey}</code>
                </dd>
                <dt>Endpoint</dt>
                <dd>{peer.endpoint ?? '—'}</dd>
                <dt>Allowed IPs</dt>
                <dd>{peer.allowedIps || '—'}</dd>
                {peer.persistentKeepalive && (
                  <>
                    <dt>Keepalive</dt>
                    <dd>every {peer.persistentKeepalive} s</dd>
                  </>
                )}
              </dl>
            </li>
          ))}
        </ul>
      )}

      <div className="actions">
        <button type="button" onClick={onEdit} disabled={on} title={on ? 'Disconnect to edit' : undefined}>
          Edit
        </button>
        <button type="button" onClick={onRename} disabled={on}>
          Rename
        </button>
        <button type="button" onClick={() => void exportTunnel()}>
          Export…
        </button>
        <button type="button" onClick={() => setShowLog((v) => !v)} aria-expanded={showLog}>
          {showLog ? 'Hide log' : 'Show log'}
        </button>
        <button type="button" className="danger" onClick={() => setConfirmingDelete(true)} disabled={on}>
          Delete
        </button>
      </div>

      {confirmingDelete && (
        <div role="alertdialog" aria-modal="true" aria-labelledby="delete-title" className="dialog">
          <h3 id="delete-title">Delete {tunnel.name}?</h3>
          <p>Its configuration and keys are removed from this computer. Export it first to keep a copy.</p>
          <div className="actions">
            <button type="button" autoFocus onClick={() => setConfirmingDelete(false)}>
              Cancel
            </button>
            <button type="button" className="danger" onClick={() => void deleteTunnel()}>
              Delete
            </button>
          </div>
        </div>
      )}
      {showLog && <LogView name={tunnel.name} wirelane={wirelane} />}
    </section>
  );
}
