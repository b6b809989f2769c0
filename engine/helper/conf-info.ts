/**
 * What the helper reads out of a .conf file for the UI: its problems (line-numbered), or the
 * summary the list shows (public key, addresses, endpoints, whether it has scripts, whether it
 * is a full tunnel). Also hides secrets in text sent to the app.
 */
import type { ConfParseResult, TunnelConfig } from '../conf/types.js';
import { lintConf } from '../conf/lint.js';
import { HIDDEN_KEY_MARKER, type ConfProblem } from './protocol.js';
import { tokenizeConf } from '../conf/parse.js';
import { keyToBase64 } from '../keys.js';
import { formatCidr, type Cidr } from '../routing/cidr.js';
import { coversWholeFamily } from '../routing/prefix-sets.js';

export interface ConfInfo {
  publicKey: string;
  addresses: string[];
  endpoints: string[];
  hasScripts: boolean;
  fullTunnel: boolean;
}

export type ConfInspection = { ok: true; config: TunnelConfig; info: ConfInfo } | { ok: false; problems: ConfProblem[] };

export interface ConfInspector {
  inspect(text: string): ConfInspection;
  /**
   * The linter's warnings about text that inspected ok (its config), as problems with severity
   * 'warning'; otherTunnels are the other stored tunnels, for overlapping prefixes.
   */
  warnings(text: string, config: TunnelConfig, otherTunnels?: readonly { name: string; config: TunnelConfig }[]): ConfProblem[];
}

export function createConfInspector(
  parse: (text: string) => ConfParseResult,
  publicKeyOf: (privateKey: Uint8Array) => Uint8Array,
): ConfInspector {
  return {
    inspect(text) {
      const parsed = parse(text);
      if (!parsed.ok) {
        return {
          ok: false,
          problems: parsed.errors.map((e) => ({ line: e.line, message: e.key ? `${e.key}: ${e.message}` : e.message })),
        };
      }
      return { ok: true, config: parsed.config, info: describeConfig(parsed.config, publicKeyOf) };
    },
    warnings(text, config, otherTunnels = []) {
      return lintConf(text, config, { ownPublicKey: publicKeyOf(config.interface.privateKey), otherTunnels }).map((w) => ({
        line: w.line,
        message: w.key ? `${w.key}: ${w.message}` : w.message,
        severity: 'warning' as const,
      }));
    },
  };
}

export function describeConfig(config: TunnelConfig, publicKeyOf: (privateKey: Uint8Array) => Uint8Array): ConfInfo {
  const iface = config.interface;
  return {
    publicKey: keyToBase64(publicKeyOf(iface.privateKey)),
    addresses: iface.addresses.map(formatCidr),
    endpoints: config.peers.flatMap((p) =>
      p.endpoint ? [p.endpoint.host.includes(':') ? `[${p.endpoint.host}]:${p.endpoint.port}` : `${p.endpoint.host}:${p.endpoint.port}`] : [],
    ),
    hasScripts: iface.preUp.length + iface.postUp.length + iface.preDown.length + iface.postDown.length > 0,
    fullTunnel: isFullTunnel(config),
  };
}

/**
 * The address families (4, 6) whose whole address space the prefixes cover together: 0.0.0.0/0,
 * or 0.0.0.0/1 + 128.0.0.0/1, or any other set whose union is every address of the family. Such a
 * tunnel carries all traffic of that family exactly as a /0 does, so everything that treats a /0
 * specially (kill switch, policy routing, DNS as the default route, the "full tunnel" flag) must
 * treat these the same: this is the one place that decides it (contract in DESIGN.md).
 */
export function fullTunnelFamilies(prefixes: readonly Cidr[]): Set<4 | 6> {
  // The interval arithmetic lives in engine/routing/prefix-sets.ts, shared with the linter
  // (engine/conf/lint.ts), which cannot import this module (this module imports it).
  return new Set(([4, 6] as const).filter((family) => coversWholeFamily(prefixes, family)));
}

/** A tunnel whose peers' AllowedIPs together cover IPv4 or IPv6 entirely (Table=off included:
 *  the caller decides whether routes go in). */
export function isFullTunnel(config: TunnelConfig): boolean {
  return fullTunnelFamilies(config.peers.flatMap((peer) => peer.allowedIps)).size > 0;
}

/** Keys whose values never leave the helper except through `export`. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['privatekey', 'presharedkey']);

/**
 * The text with every PrivateKey and PresharedKey value replaced by HIDDEN_KEY_MARKER. Lines are
 * read with the parser's own tokeniser, so any spelling the parser would take for such a key
 * (case, tabs, Unicode spaces it trims, a comment after the value, any section) is hidden too;
 * a line with a control character, which the parser refuses, is still hidden.
 */
export function hideSecrets(text: string): string {
  const lines = text.split('\n');
  for (const token of tokenizeConf(text)) {
    if (token.kind !== 'entry' || !SECRET_KEYS.has(token.lowerKey)) continue;
    const original = lines[token.line - 1]!;
    // token.raw lacks the line's '\r' and, on line 1, a byte-order mark: keep both.
    const prefix = original.slice(0, original.length - token.raw.length - (original.endsWith('\r') ? 1 : 0));
    const suffix = original.endsWith('\r') ? '\r' : '';
    lines[token.line - 1] = `${prefix}${token.raw.slice(0, token.valueStart)}${HIDDEN_KEY_MARKER}${token.raw.slice(token.valueEnd)}${suffix}`;
  }
  return lines.join('\n');
}

/**
 * One line for a person: "line N: key: message", or the message alone when it concerns the whole
 * file (line 0); a warning says so ("line N: warning: key: message").
 */
export function formatProblem(problem: ConfProblem): string {
  const text = problem.severity === 'warning' ? `warning: ${problem.message}` : problem.message;
  return problem.line > 0 ? `line ${problem.line}: ${text}` : text;
}
