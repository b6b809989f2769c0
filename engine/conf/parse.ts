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
import { formatAddress, formatCidr, maskCidr, parseAddress, parseCidr, parseIPv4, parseIPv6 } from '../routing/cidr.js';
import type { ConfError, ConfParseResult, TunnelConfig, TunnelEndpoint, TunnelInterface, TunnelPeer } from './types.js';

/** Larger files are refused whole: a tunnel file is a few hundred bytes. */
export const MAX_CONF_BYTES = 1024 * 1024;
/** The least MTU a tunnel may have, and the least one with an IPv6 address (RFC 791, RFC 8200). */
export const MIN_MTU = 576;
export const MIN_MTU_IPV6 = 1280;
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

/**
 * One line of a .conf file as the parser reads it. hideSecrets() and the restoring of hidden keys
 * (engine/helper) use these same tokens, so what they take for a PrivateKey line is exactly what
 * the parser takes for one, whatever spaces, case or comments it is written with.
 */
export type ConfLineToken = ConfLineCommon &
  (
    | { kind: 'blank' }
    | { kind: 'header'; /** lower case, as written between the brackets: "[interface]" */ header: string }
    | { kind: 'malformed' }
    | {
        kind: 'entry';
        writtenKey: string;
        lowerKey: string;
        value: string;
        /** Where value stands in `raw` (UTF-16 offsets): raw.slice(valueStart, valueEnd) === value. */
        valueStart: number;
        valueEnd: number;
      }
  );

interface ConfLineCommon {
  /** 1-based */
  line: number;
  /** The line as written, without its '\n' and '\r' (and the byte-order mark, on line 1). */
  raw: string;
  /** What is left without the comment and the surrounding spaces. */
  content: string;
  /** The section the line is in (a header line: the one it opens); 'unknown' after any other header. */
  section: 'none' | 'interface' | 'peer' | 'unknown';
  controlCharacter: boolean;
  /** The code point of the first whitespace character before the comment that is neither a space
   *  nor a tab (U+00A0, U+2003, ...), or null. */
  otherSpace: number | null;
}

// Whitespace as String.prototype.trim() sees it, minus space, tab and the control characters
// (vertical tab, form feed) that CONTROL_CHARACTER refuses already.
const OTHER_SPACE = /[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/u;

/** Splits a .conf text into lines and each line into its parts, exactly as parseConf reads them. */
export function tokenizeConf(text: string): ConfLineToken[] {
  const tokens: ConfLineToken[] = [];
  const lines = text.split('\n');
  let section: ConfLineCommon['section'] = 'none';
  for (let index = 0; index < lines.length; index++) {
    let raw = lines[index]!;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (index === 0 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1); // a byte-order mark from Windows editors
    const hash = raw.indexOf('#');
    const beforeComment = hash >= 0 ? raw.slice(0, hash) : raw;
    const content = beforeComment.trim();
    const other = OTHER_SPACE.exec(beforeComment);
    const common = {
      line: index + 1,
      raw,
      content,
      controlCharacter: CONTROL_CHARACTER.test(raw),
      otherSpace: other ? other[0].codePointAt(0)! : null,
    };
    if (content === '') {
      tokens.push({ ...common, section, kind: 'blank' });
    } else if (content.startsWith('[')) {
      const header = content.toLowerCase();
      section = header === '[interface]' ? 'interface' : header === '[peer]' ? 'peer' : 'unknown';
      tokens.push({ ...common, section, kind: 'header', header });
    } else {
      const equals = content.indexOf('=');
      if (equals < 0) {
        tokens.push({ ...common, section, kind: 'malformed' });
        continue;
      }
      const writtenKey = content.slice(0, equals).trim();
      const afterEquals = content.slice(equals + 1);
      const value = afterEquals.trim();
      const contentStart = beforeComment.length - beforeComment.trimStart().length;
      const valueStart = contentStart + equals + 1 + (afterEquals.length - afterEquals.trimStart().length);
      tokens.push({ ...common, section, kind: 'entry', writtenKey, lowerKey: writtenKey.toLowerCase(), value, valueStart, valueEnd: valueStart + value.length });
    }
  }
  return tokens;
}

export function parseConf(text: string): ConfParseResult {
  const errors: ConfError[] = [];
  const fail = (line: number, key: string, message: string) => {
    if (errors.length < MAX_CONF_ERRORS) errors.push({ line, key, message });
  };
  if (text.length > MAX_CONF_BYTES) {
    return { ok: false, errors: [{ line: 1, key: '', message: `the file is larger than ${MAX_CONF_BYTES} bytes; this is not a tunnel file` }] };
  }

  let iface: InterfaceDraft | null = null;
  const peers: PeerDraft[] = [];
  let section: Section = { kind: 'none' };

  for (const token of tokenizeConf(text)) {
    const lineNumber = token.line;
    if (token.controlCharacter) {
      fail(lineNumber, '', 'the line contains a control character');
      continue;
    }
    if (token.kind === 'blank') continue;
    const content = token.content;
    if (token.otherSpace !== null) {
      // wg reads only ASCII spaces as spaces; a no-break or other Unicode space is how a line is
      // made to look like one key to a person and to one program while being another to a second.
      fail(lineNumber, token.kind === 'entry' ? token.writtenKey : '', `the line contains a Unicode space (U+${token.otherSpace.toString(16).toUpperCase().padStart(4, '0')}); only spaces and tabs may separate its parts`);
      continue;
    }

    if (token.kind === 'header') {
      const name = token.header;
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

    if (token.kind === 'malformed') {
      fail(lineNumber, '', `expected 'Key = Value', found '${content}'`);
      continue;
    }
    const { writtenKey, value, lowerKey } = token;

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
  const mtuLine = iface?.seen.get('MTU');
  if (iface && mtuLine !== undefined && iface.value.mtu !== undefined && iface.value.mtu < MIN_MTU_IPV6) {
    const v6 = iface.value.addresses.find((address) => address.family === 6);
    if (v6) {
      // Linux switches IPv6 off on a link below 1280 (RFC 8200's minimum), so the address could
      // never be added: the OS layer refuses the same (engine/os/plan.ts).
      fail(mtuLine, 'MTU', `${iface.value.mtu} is below ${MIN_MTU_IPV6}, the least IPv6 needs, and this tunnel has the IPv6 address ${formatCidr(v6)}; use MTU = ${MIN_MTU_IPV6} or more`);
    }
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
      // The OS layer's range (engine/os/address.ts checkMtu): below 576 a tunnel could never
      // connect, and IPv4 itself requires hosts to take 576-byte packets.
      const mtu = parseInteger(value, MIN_MTU, 65535);
      if (mtu === null) return [`'${value}' is not a valid MTU (${MIN_MTU} to 65535)`];
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

