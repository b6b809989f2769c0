/**
 * What the helper reads out of a .conf file for the UI: its problems (line-numbered), or the
 * summary the list shows (public key, addresses, endpoints, whether it has scripts, whether it
 * is a full tunnel). Also hides secrets in text sent to the app.
 */
import type { ConfParseResult, TunnelConfig } from '../conf/types.js';
import { lintConf } from '../conf/lint.js';
import type { ConfProblem } from './protocol.js';
import { keyToBase64 } from '../keys.js';
import { formatCidr } from '../routing/cidr.js';

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
    fullTunnel: config.peers.some((p) => p.allowedIps.some((c) => c.bits === 0)),
  };
}

/** The text with every PrivateKey and PresharedKey value replaced by "(hidden)". */
export function hideSecrets(text: string): string {
  return text.replace(/^([ \t]*(?:PrivateKey|PresharedKey)[ \t]*=[ \t]*)[^\r\n#]*/gim, '$1(hidden)');
}

/**
 * One line for a person: "line N: key: message", or the message alone when it concerns the whole
 * file (line 0); a warning says so ("line N: warning: key: message").
 */
export function formatProblem(problem: ConfProblem): string {
  const text = problem.severity === 'warning' ? `warning: ${problem.message}` : problem.message;
  return problem.line > 0 ? `line ${problem.line}: ${text}` : text;
}
