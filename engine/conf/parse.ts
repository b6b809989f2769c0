/**
 * Parses a wg-quick .conf file (the format `man wg-quick` and `man wg` describe) into a
 * TunnelConfig, or into every error found, each with its line and key.
 *
 * Rules, as wg and wg-quick apply them:
 * - '#' starts a comment that runs to the end of the line; blank lines are ignored.
 * - Section names and keys are case-insensitive ("EndPoint" is Endpoint); spaces around '=' and
 *   around comma-separated list items do not matter.
 * - Address, DNS, AllowedIPs and the four script hooks may repeat (lists add up, hooks keep their
 *   order); every other key may appear once per section.
 * - DNS entries that are IP addresses are servers, anything else a search domain (wg-quick's rule:
 *   digits and dots only, or containing ':', is an address).
 *
 * Stricter than wg-quick on purpose, because a file is imported once and used many times:
 * exactly one [Interface], first; unknown keys and sections are errors (wg would refuse them
 * later, at connect time); every peer's public key is unique.
 *
 * Never throws on any input: the file is untrusted.
 */
import { keyFromBase64 } from '../keys.js';
import { formatAddress, maskCidr, parseAddress, parseCidr, parseIPv4, parseIPv6 } from '../routing/cidr.js';
import type { ConfError, ConfParseResult, TunnelConfig, TunnelEndpoint, TunnelInterface, TunnelPeer } from './types.js';

/** Larger files are refused whole: a tunnel file is a few hundred bytes. */
export const MAX_CONF_BYTES = 1024 * 1024;
/** Past this many errors the parser stops listing them. */
export const MAX_CONF_ERRORS = 200;

const INTERFACE_KEYS: Record<string, string> = {
  privatekey: 'PrivateKey',
  listenport: 'ListenPort',
  fwmark: 'FwMark',
  address: 'Address',
  dns: 'DNS',
  mtu: 'MTU',
  table: 'Table',
  preup: 'PreUp',
  postup: 'PostUp',
  predown: 'PreDown',
  postdown: 'PostDown',
  saveconfig: 'SaveConfig',
};

const PEER_KEYS: Record<string, string> = {
  publickey: 'PublicKey',
  presharedkey: 'PresharedKey',
  allowedips: 'AllowedIPs',
  endpoint: 'Endpoint',
  persistentkeepalive: 'PersistentKeepalive',
};

/** Keys that may appear more than once in their section. */
const REPEATABLE_KEYS = new Set(['Address', 'DNS', 'AllowedIPs', 'PreUp', 'PostUp', 'PreDown', 'PostDown']);
/** Keys whose value may be empty ("AllowedIPs =" means none). */
const MAY_BE_EMPTY = new Set(['Address', 'DNS', 'AllowedIPs']);

/** "line 7: AllowedIPs: '10.0.0.0/33' is not a valid CIDR" */
export function formatConfError(error: ConfError): string {
  return `line ${error.line}: ${error.key ? `${error.key}: ` : ''}${error.message}`;
}

interface InterfaceDraft {
  line: number;
  seen: Map<string, number>;
  value: Omit<TunnelInterface, 'privateKey'> & { privateKey?: Uint8Array };
}

interface PeerDraft {
  line: number;
  seen: Map<string, number>;
  value: Omit<TunnelPeer, 'publicKey'> & { publicKey?: Uint8Array };
}

type Section =
  | { kind: 'none' }
  | { kind: 'interface'; draft: InterfaceDraft }
  | { kind: 'peer'; draft: PeerDraft }
  /** after an unknown section header: its keys are skipped (the header got the error) */
  | { kind: 'unknown' };

// Control characters other than tab have no place in a config line (a stray NUL or escape
// sequence is a corrupted file or an attempt to hide text from a reviewer).
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function parseConf(text: string): ConfParseResult {
  const errors: ConfError[] = [];
  const fail = (line: number, key: string, message: string) => {
    if (errors.length < MAX_CONF_ERRORS) errors.push({ line, key, message });
  };
  if (text.length > MAX_CONF_BYTES) {
    return { ok: false, errors: [{ line: 1, key: '', message: `the file is larger than ${MAX_CONF_BYTES} bytes; this is not a tunnel file` }] };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte-order mark from Windows editors

  let iface: InterfaceDraft | null = null;
  const peers: PeerDraft[] = [];
  let section: Section = { kind: 'none' };
  const lines = text.split('\n');

  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    let raw = lines[index]!;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (CONTROL_CHARACTER.test(raw)) {
      fail(lineNumber, '', 'the line contains a control character');
      continue;
    }
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === '') continue;

    if (content.startsWith('[')) {
      const name = content.toLowerCase();
      if (name === '[interface]') {
        if (iface) {
          fail(lineNumber, '', `a second [Interface] section (the first is on line ${iface.line})`);
          section = { kind: 'interface', draft: newInterfaceDraft(lineNumber) }; // checked, then dropped
        } else {
          if (peers.length > 0) fail(lineNumber, '', '[Interface] must come before every [Peer]');
          iface = newInterfaceDraft(lineNumber);
          section = { kind: 'interface', draft: iface };
        }
      } else if (name === '[peer]') {
        if (!iface && peers.length === 0) fail(lineNumber, '', '[Peer] comes before [Interface]; the file must start with [Interface]');
        const draft = newPeerDraft(lineNumber);
        peers.push(draft);
        section = { kind: 'peer', draft };
      } else {
        fail(lineNumber, '', `unknown section '${content}' (expected [Interface] or [Peer])`);
        section = { kind: 'unknown' };
      }
      continue;
    }

    const equals = content.indexOf('=');
    if (equals < 0) {
      fail(lineNumber, '', `expected 'Key = Value', found '${content}'`);
      continue;
    }
    const writtenKey = content.slice(0, equals).trim();
    const value = content.slice(equals + 1).trim();
    const lowerKey = writtenKey.toLowerCase();

    if (section.kind === 'unknown') continue;
    if (section.kind === 'none') {
      fail(lineNumber, writtenKey, 'comes before the [Interface] section');
      continue;
    }
    const ownKeys = section.kind === 'interface' ? INTERFACE_KEYS : PEER_KEYS;
    const key = ownKeys[lowerKey];
    if (!key) {
      const otherKey = (section.kind === 'interface' ? PEER_KEYS : INTERFACE_KEYS)[lowerKey];
      if (otherKey) fail(lineNumber, otherKey, `belongs in ${section.kind === 'interface' ? 'a [Peer]' : 'the [Interface]'} section`);
      else fail(lineNumber, writtenKey, `unknown key '${writtenKey}'`);
      continue;
    }
    const seen = section.draft.seen;
    const firstLine = seen.get(key);
    if (firstLine !== undefined && !REPEATABLE_KEYS.has(key)) {
      fail(lineNumber, key, `appears twice in this section (first on line ${firstLine})`);
      continue;
    }
    if (firstLine === undefined) seen.set(key, lineNumber);
    if (value === '' && !MAY_BE_EMPTY.has(key)) {
      fail(lineNumber, key, 'has no value');
      continue;
    }
    const problem =
      section.kind === 'interface' ? applyInterfaceKey(section.draft, key, value) : applyPeerKey(section.draft, key, value);
    for (const message of problem) fail(lineNumber, key, message);
  }

  if (!iface) {
    fail(1, '', 'the file has no [Interface] section');
  } else if (!iface.seen.has('PrivateKey')) {
    fail(iface.line, 'PrivateKey', 'the [Interface] section has no PrivateKey');
  }
  const peerByKey = new Map<string, number>();
  for (const peer of peers) {
    if (!peer.seen.has('PublicKey')) {
      fail(peer.line, 'PublicKey', 'this [Peer] section has no PublicKey');
    } else if (peer.value.publicKey) {
      const id = Buffer.from(peer.value.publicKey).toString('hex');
      const keyLine = peer.seen.get('PublicKey')!;
      const other = peerByKey.get(id);
      if (other !== undefined) fail(keyLine, 'PublicKey', `the same public key as the peer on line ${other}`);
      else peerByKey.set(id, keyLine);
    }
  }

  if (errors.length > 0 || !iface || !iface.value.privateKey) {
    errors.sort((a, b) => a.line - b.line);
    return { ok: false, errors };
  }
  const config: TunnelConfig = {
    interface: { ...iface.value, privateKey: iface.value.privateKey },
    peers: peers.map((p) => ({ ...p.value, publicKey: p.value.publicKey! })),
  };
  return { ok: true, config };
}

function newInterfaceDraft(line: number): InterfaceDraft {
  return {
    line,
    seen: new Map(),
    value: {
      addresses: [],
      dns: { servers: [], searchDomains: [] },
      preUp: [],
      postUp: [],
      preDown: [],
      postDown: [],
      saveConfig: false,
    },
  };
}

function newPeerDraft(line: number): PeerDraft {
  return { line, seen: new Map(), value: { allowedIps: [] } };
}

/** Applies one [Interface] key; returns the problems found (empty when fine). */
function applyInterfaceKey(draft: InterfaceDraft, key: string, value: string): string[] {
  const target = draft.value;
  switch (key) {
    case 'PrivateKey': {
      const decoded = keyFromBase64(value);
      if (!decoded.ok) return [`not a valid key: ${decoded.message}`];
      target.privateKey = decoded.key;
      return [];
    }
    case 'ListenPort': {
      const port = parseInteger(value, 0, 65535);
      if (port === null) return [`'${value}' is not a valid port (0 to 65535)`];
      target.listenPort = port;
      return [];
    }
    case 'FwMark': {
      // wg accepts "off", decimal or 0x-hex (strtoul base 0).
      const mark = value.toLowerCase() === 'off' ? 0 : /^0x[0-9a-f]{1,8}$/i.test(value) ? Number.parseInt(value.slice(2), 16) : parseInteger(value, 0, 0xffffffff);
      if (mark === null) return [`'${value}' is not a valid firewall mark (a number up to 4294967295, 0x-hex or off)`];
      target.fwMark = mark;
      return [];
    }
    case 'Address':
      return listItems(value).flatMap((item) => {
        const parsed = parseCidr(item);
        if (!parsed.ok) return [`'${item}' is not a valid address (expected e.g. 10.0.0.1/24 or fd00::1/64)`];
        target.addresses.push(parsed.cidr);
        return [];
      });
    case 'DNS':
      return listItems(value).flatMap((item) => {
        if (/^[0-9.]+$/.test(item) || item.includes(':')) {
          const address = parseAddress(item);
          if (!address) return [`'${item}' is not a valid DNS server address`];
          target.dns.servers.push(formatAddress(address));
        } else {
          if (!isHostname(item)) return [`'${item}' is neither an IP address nor a valid search domain`];
          target.dns.searchDomains.push(item);
        }
        return [];
      });
    case 'MTU': {
      const mtu = parseInteger(value, 68, 65535);
      if (mtu === null) return [`'${value}' is not a valid MTU (68 to 65535)`];
      target.mtu = mtu;
      return [];
    }
    case 'Table': {
      const lower = value.toLowerCase();
      if (lower === 'off' || lower === 'auto') target.table = lower;
      else if (lower === 'main') target.table = 254; // the one table name every Linux knows
      else {
        const table = parseInteger(value, 1, 0xffffffff);
        if (table === null) return [`'${value}' is not a valid table (off, auto or a table number)`];
        target.table = table;
      }
      return [];
    }
    case 'PreUp':
      target.preUp.push(value);
      return [];
    case 'PostUp':
      target.postUp.push(value);
      return [];
    case 'PreDown':
      target.preDown.push(value);
      return [];
    case 'PostDown':
      target.postDown.push(value);
      return [];
    case 'SaveConfig': {
      const lower = value.toLowerCase();
      if (lower !== 'true' && lower !== 'false') return [`'${value}' is neither true nor false`];
      target.saveConfig = lower === 'true';
      return [];
    }
  }
  return [`unknown key '${key}'`];
}

/** Applies one [Peer] key; returns the problems found (empty when fine). */
function applyPeerKey(draft: PeerDraft, key: string, value: string): string[] {
  const target = draft.value;
  switch (key) {
    case 'PublicKey':
    case 'PresharedKey': {
      const decoded = keyFromBase64(value);
      if (!decoded.ok) return [`not a valid key: ${decoded.message}`];
      if (key === 'PublicKey') target.publicKey = decoded.key;
      else target.presharedKey = decoded.key;
      return [];
    }
    case 'AllowedIPs':
      return listItems(value).flatMap((item) => {
        const parsed = parseCidr(item);
        if (!parsed.ok) return [parsed.message];
        target.allowedIps.push(maskCidr(parsed.cidr));
        return [];
      });
    case 'Endpoint': {
      const parsed = parseEndpoint(value);
      if (!parsed.ok) return [parsed.message];
      target.endpoint = parsed.endpoint;
      return [];
    }
    case 'PersistentKeepalive': {
      const seconds = value.toLowerCase() === 'off' ? 0 : parseInteger(value, 0, 65535);
      if (seconds === null) return [`'${value}' is not a valid keepalive interval (0 to 65535 seconds, or off)`];
      target.persistentKeepalive = seconds;
      return [];
    }
  }
  return [`unknown key '${key}'`];
}

/** Comma-separated items, trimmed, empty ones skipped (as wg-quick's word splitting does). */
function listItems(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A decimal integer within [min, max], or null. */
function parseInteger(text: string, min: number, max: number): number | null {
  if (!/^[0-9]{1,10}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** A DNS name: dot-separated labels of letters, digits, '-' and '_', at most 253 characters. */
export function isHostname(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

export type EndpointParseResult = { ok: true; endpoint: TunnelEndpoint } | { ok: false; message: string };

/** Parses "192.0.2.1:51820", "[fd00::1]:51820" or "vpn.example.com:51820". */
export function parseEndpoint(value: string): EndpointParseResult {
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return { ok: false, message: `'${value}' has no closing ']' after the IPv6 address` };
    host = value.slice(1, close);
    if (!parseIPv6(host)) return { ok: false, message: `'${host}' is not a valid IPv6 address` };
    const rest = value.slice(close + 1);
    if (rest === '') return { ok: false, message: `'${value}' has no port (expected [address]:port)` };
    if (!rest.startsWith(':')) return { ok: false, message: `'${value}' must be written [address]:port` };
    portText = rest.slice(1);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return { ok: false, message: `'${value}' has no port (expected host:port)` };
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) {
      return { ok: false, message: `'${value}': an IPv6 endpoint must be written in brackets, e.g. [fd00::1]:51820` };
    }
    if (/^[0-9.]+$/.test(host)) {
      if (!parseIPv4(host)) return { ok: false, message: `'${host}' is not a valid IPv4 address` };
    } else if (!isHostname(host)) {
      return { ok: false, message: `'${host}' is not a valid host name or IP address` };
    }
  }
  const port = parseInteger(portText, 1, 65535);
  if (port === null) return { ok: false, message: `'${portText}' is not a valid port (1 to 65535)` };
  return { ok: true, endpoint: { host, port } };
}

