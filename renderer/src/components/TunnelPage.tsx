/**
 * One tunnel, laid out so that what matters is seen first and nothing needs a scroll at the
 * default window size: its state in large type with "connected for" under it and the one main
 * action beside it (Connect filled; Disconnect, or Cancel while connecting, secondary); the
 * other actions in one row under it; then the live graph beside the interface facts; then the
 * peers, each with its own latest handshake, transfer and endpoint (the helper's `show`).
 */
import { useEffect, useState } from 'react';
import type { DeviceDetails, TunnelSummary, WirelaneApi } from '../contract.js';
import { errorText } from '../api.js';
import { readConfForDisplay, type ConfView } from '../conf-view.js';
import { formatBytes, handshakeAge } from '../format.js';
import type { RateSample } from '../store.js';
import { isOn, scriptsOf, stateDetail, stateLabel } from '../tunnel-state.js';
import { ThroughputGraph } from './ThroughputGraph.js';

export { stateLabel } from '../tunnel-state.js';

export interface TunnelPageProps {
  tunnel: TunnelSummary;
  rates: readonly RateSample[];
  wirelane: WirelaneApi;
  /** Clock for ages and durations; ticks once a second. */
  now: number;
  onEdit: () => void;
  onRename: () => void;
  onDelete: () => void;
  onExport: () => void;
  onShowLog: () => void;
  /** Says something at the top of the window (errors of an action, a copied key). */
  notify: (text: string, kind?: 'info' | 'error') => void;
}

/** How often the per-peer detail is read while the tunnel is on. */
const DETAILS_EVERY_MS = 1000;

function shortKey(key: string): string {
  return key.length > 16 ? `${key.slice(0, 8)}…${key.slice(-6)}` : key;
}

export function TunnelPage({ tunnel, rates, wirelane, now, onEdit, onRename, onDelete, onExport, onShowLog, notify }: TunnelPageProps) {
  const [conf, setConf] = useState<ConfView | null>(null);
  const [lastDetails, setDetails] = useState<DeviceDetails | null>(null);
  const [busy, setBusy] = useState(false);
  const [killSwitchBusy, setKillSwitchBusy] = useState(false);
  const status = tunnel.status;
  const state = status.status.state;
  const on = isOn(status.status);
  const scripts = scriptsOf(tunnel);
  const details = on ? lastDetails : null;

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

  // Per-peer detail while on; the last one read stays while reconnecting (the device is there).
  useEffect(() => {
    if (!on) return;
    let live = true;
    const read = () =>
      void wirelane.getTunnelDetails(tunnel.name).then((result) => {
        if (live && result.ok && result.value.device) setDetails(result.value.device);
      });
    read();
    const timer = setInterval(read, DETAILS_EVERY_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [wirelane, tunnel.name, on]);

  const primary = async () => {
    setBusy(true);
    const result = on ? await wirelane.disconnectTunnel(tunnel.name) : await wirelane.connectTunnel(tunnel.name);
    setBusy(false);
    // A failed connect shows its reason once, as the tunnel's state; and a connect cancelled by
    // Disconnect is no error either.
    if (!result.ok && result.error.code !== 'connect_failed' && !(on && result.error.code === 'not_connected')) notify(errorText(result.error), 'error');
  };

  const copyKey = async () => {
    const result = await wirelane.copyPublicKey(tunnel.publicKey);
    notify(result.ok ? 'Public key copied.' : errorText(result.error), result.ok ? 'info' : 'error');
  };

  const setKillSwitch = async (enabled: boolean) => {
    setKillSwitchBusy(true);
    const result = await wirelane.setKillSwitch(tunnel.name, enabled);
    setKillSwitchBusy(false);
    if (!result.ok) notify(errorText(result.error), 'error');
  };

  const primaryLabel = state === 'connecting' ? 'Cancel' : on ? 'Disconnect' : 'Connect';
  const primaryName = state === 'connecting' ? `Cancel connecting ${tunnel.name}` : `${primaryLabel} ${tunnel.name}`;
  const peers = conf?.peers ?? [];
  const peerDetail = (publicKey: string) => details?.peers.find((p) => p.publicKey === publicKey) ?? null;

  return (
    <section className="tunnel-page" aria-labelledby="page-title">
      <header className={`hero state-${state}`}>
        <div className="hero-text">
          <h2 id="page-title" tabIndex={-1}>
            {tunnel.name}
          </h2>
          <p className="hero-state">
            <span className={`state-icon state-${state}`} aria-hidden="true" />
            <span data-testid="tunnel-state">{stateLabel(tunnel)}</span>
          </p>
          <p className="hero-detail" data-testid="state-detail">
            {stateDetail(tunnel, now)}
          </p>
          {status.status.state === 'failed' && (
            <p className="error-text" role="alert" data-testid="failure-reason">
              {status.status.reason}
            </p>
          )}
        </div>
        <button
          type="button"
          id="primary-action"
          className={`big ${on ? 'secondary' : 'primary'}`}
          aria-label={primaryName}
          // aria-disabled, not disabled: disabling the focused button would drop keyboard focus.
          aria-disabled={busy && state !== 'connecting'}
          onClick={() => {
            if (!busy || state === 'connecting') void primary();
          }}
        >
          {primaryLabel}
        </button>
      </header>

      <div className="toolbar" aria-label="Tunnel actions" role="group">
        <button type="button" id="action-edit" onClick={onEdit} disabled={on} title={on ? 'Disconnect to edit' : 'Edit the configuration'}>
          Edit
        </button>
        <button type="button" id="action-rename" onClick={onRename} disabled={on} title={on ? 'Disconnect to rename' : 'Rename (F2)'}>
          Rename
        </button>
        <button type="button" id="action-export" onClick={onExport} title="Save the full configuration, keys included">
          Export…
        </button>
        <button type="button" id="action-log" onClick={onShowLog}>
          Log
        </button>
        <button type="button" id="action-delete" className="danger" onClick={onDelete} disabled={on} title={on ? 'Disconnect to delete' : 'Delete (Del)'}>
          Delete…
        </button>
      </div>

      <div className="tunnel-grid">
        <section className="panel" aria-labelledby="traffic-title">
          <h3 id="traffic-title">Traffic</h3>
          <ThroughputGraph samples={rates} now={now} label={`Throughput of ${tunnel.name}`} />
          <p className="transfer" data-testid="transfer">
            Total <span data-testid="rx">{formatBytes(status.rxBytes)} received</span>, <span data-testid="tx">{formatBytes(status.txBytes)} sent</span>
            {' · '}latest handshake <span data-testid="handshake-age">{handshakeAge(status.latestHandshake, now)}</span>
          </p>
        </section>
        <section className="panel" aria-labelledby="interface-title">
          <h3 id="interface-title">Interface</h3>
          <dl className="facts">
            <dt>Public key</dt>
            <dd>
              <code data-testid="public-key" title={tunnel.publicKey}>
                {tunnel.publicKey}
              </code>{' '}
              <button type="button" className="small" onClick={() => void copyKey()} aria-label="Copy public key">
                Copy
              </button>
            </dd>
            <dt>Addresses</dt>
            <dd>{tunnel.addresses.join(', ') || '—'}</dd>
            {conf?.dns && (
              <>
                <dt>DNS</dt>
                <dd>{conf.dns}</dd>
              </>
            )}
            {(conf?.listenPort || details) && (
              <>
                <dt>Listen port</dt>
                <dd>{details ? details.listenPort : conf?.listenPort}</dd>
              </>
            )}
            {conf?.mtu && (
              <>
                <dt>MTU</dt>
                <dd>{conf.mtu}</dd>
              </>
            )}
            <dt>Routes</dt>
            <dd>{tunnel.fullTunnel ? 'All traffic (full tunnel)' : 'Only the peers’ allowed IPs'}</dd>
          </dl>
          <label className="check">
            <input type="checkbox" checked={tunnel.killSwitch} disabled={killSwitchBusy} onChange={(e) => void setKillSwitch(e.target.checked)} />
            <span>
              Kill switch <span className="muted">— while on, nothing goes {tunnel.fullTunnel ? 'anywhere' : 'to its networks'} outside the tunnel</span>
            </span>
          </label>
          {scripts ? (
            <p className={scripts.approved ? 'note-line' : 'warning'} role="note" data-testid="scripts-status">
              {scripts.approved
                ? 'Its PreUp/PostUp/PreDown/PostDown commands are approved and run.'
                : <>Its PreUp/PostUp/PreDown/PostDown commands are kept but not run. An administrator can allow them with <code>{scripts.approveCommand}</code></>}
            </p>
          ) : (
            tunnel.hasScripts && (
              <p className="warning" role="note" data-testid="scripts-status">
                Its PreUp/PostUp/PreDown/PostDown commands are kept but run only once an administrator approves them for this tunnel.
              </p>
            )
          )}
        </section>
      </div>

      <section className="panel" aria-labelledby="peers-title">
        <h3 id="peers-title">Peers</h3>
        {conf === null ? (
          <p className="muted">Loading…</p>
        ) : peers.length === 0 ? (
          <p className="muted">No peers.</p>
        ) : (
          <table className="peers" data-testid="peers">
            <thead>
              <tr>
                <th scope="col">Peer</th>
                <th scope="col">Endpoint</th>
                <th scope="col">Latest handshake</th>
                <th scope="col">Received</th>
                <th scope="col">Sent</th>
              </tr>
            </thead>
            <tbody>
              {peers.map((peer, index) => {
                const live = peerDetail(peer.publicKey);
                return (
                  <tr key={`${peer.publicKey}-${index}`} data-testid="peer-row">
                    <th scope="row">
                      <code title={peer.publicKey}>{shortKey(peer.publicKey)}</code>
                      <div className="muted small-text">{peer.allowedIps || 'no allowed IPs'}</div>
                    </th>
                    <td data-testid="peer-endpoint">{live?.endpoint ?? peer.endpoint ?? '—'}</td>
                    <td data-testid="peer-handshake">{live ? handshakeAge(live.latestHandshake, now) : on ? '…' : '—'}</td>
                    <td data-testid="peer-rx">{live ? formatBytes(live.rxBytes) : '—'}</td>
                    <td data-testid="peer-tx">{live ? formatBytes(live.txBytes) : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}
