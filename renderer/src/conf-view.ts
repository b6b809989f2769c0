/**
 * Reads a .conf text for display only: which peers it has and their settings. The helper does
 * the real parsing and validation; this never decides whether a file is valid.
 */
export interface PeerView {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string;
  persistentKeepalive: string | null;
}

export interface ConfView {
  listenPort: string | null;
  dns: string | null;
  mtu: string | null;
  peers: PeerView[];
}

export function readConfForDisplay(text: string): ConfView {
  const view: ConfView = { listenPort: null, dns: null, mtu: null, peers: [] };
  let section: 'interface' | 'peer' | null = null;
  let peer: PeerView | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]?.toLowerCase() === 'peer' ? 'peer' : header[1]?.toLowerCase() === 'interface' ? 'interface' : null;
      if (section === 'peer') {
        peer = { publicKey: '', endpoint: null, allowedIps: '', persistentKeepalive: null };
        view.peers.push(peer);
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (section === 'interface') {
      if (key === 'listenport') view.listenPort = value;
      else if (key === 'dns') view.dns = view.dns ? `${view.dns}, ${value}` : value;
      else if (key === 'mtu') view.mtu = value;
    } else if (section === 'peer' && peer) {
      if (key === 'publickey') peer.publicKey = value;
      else if (key === 'endpoint') peer.endpoint = value;
      else if (key === 'allowedips') peer.allowedIps = peer.allowedIps ? `${peer.allowedIps}, ${value}` : value;
      else if (key === 'persistentkeepalive') peer.persistentKeepalive = value;
    }
  }
  return view;
}

/** A new configuration around a freshly generated private key. */
export function newConfTemplate(privateKey: string): string {
  return `[Interface]
PrivateKey = ${privateKey}
Address = 10.0.0.2/32
# DNS = 10.0.0.1

[Peer]
PublicKey = 
AllowedIPs = 10.0.0.0/24
Endpoint = vpn.example.com:51820
PersistentKeepalive = 25
`;
}
