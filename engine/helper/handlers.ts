/**
 * One function per control API request. They receive requests already validated against
 * protocol.ts, and answer with the result the protocol declares or throw HandlerFailure.
 *
 * Store changes are refused while the tunnel is up (update, rename, delete), so the running
 * device and its stored file never disagree; a refused or invalid request changes nothing.
 */
import { HandlerFailure, type ClientConnection, type RequestHandler } from './server.js';
import {
  HIDDEN_KEY_MARKER,
  PROTOCOL_VERSION,
  type ConfProblem,
  type HelperEvent,
  type HelperSettings,
  type RequestOf,
  type RequestType,
  type ResultOf,
  type TunnelStatus,
  type TunnelSummary,
} from './protocol.js';
import { StoreError, type TunnelStore } from './store.js';
import { formatProblem, hideSecrets, type ConfInspector } from './conf-info.js';
import type { TunnelManager } from './tunnel-manager.js';
import type { TunnelGuards } from './tunnel-guards.js';
import type { HelperLog } from './helper-log.js';
import type { TunnelConfig } from '../conf/types.js';
import { keyToBase64 } from '../keys.js';
import { tokenizeConf } from '../conf/parse.js';
import { approveCommandFor, hasScripts, scriptsApproved, scriptsDigest, scriptsSummary } from './script-approval.js';

/** A well-formed key (32 zero bytes) that stands in for a hidden one where no stored key applies. */
const STAND_IN_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export interface RestoredText {
  text: string;
  /** 1-based lines whose HIDDEN_KEY_MARKER has no stored key to stand for. */
  unresolved: number[];
}

/**
 * Puts the stored keys back where the editor's text says HIDDEN_KEY_MARKER (see `get`): the
 * interface's PrivateKey, and each peer's PresharedKey by the peer's PublicKey. With a standIn
 * key, markers without a stored key get it instead (for `validate` of a text not yet stored).
 * Only a value that is exactly the marker is replaced; every other value is left for the parser.
 * Lines, sections and keys are the parser's own tokens (tokenizeConf), so a key goes back only
 * into a line the parser reads as that key, and hideSecrets hides every such line again.
 */
export function restoreHiddenKeys(text: string, stored: TunnelConfig | null, standIn?: string): RestoredText {
  const tokens = tokenizeConf(text);
  // A peer's PublicKey may come after its PresharedKey: find each peer section's key first.
  const peerKeyOfLine = new Map<number, string>();
  let sectionLines: number[] = [];
  let peerKey: string | null = null;
  const closeSection = () => {
    if (peerKey !== null) for (const line of sectionLines) peerKeyOfLine.set(line, peerKey);
    sectionLines = [];
    peerKey = null;
  };
  for (const token of tokens) {
    if (token.kind === 'header') closeSection();
    sectionLines.push(token.line);
    if (token.kind === 'entry' && token.section === 'peer' && token.lowerKey === 'publickey') peerKey = token.value;
  }
  closeSection();

  const lines = text.split('\n');
  const unresolved: number[] = [];
  for (const token of tokens) {
    if (token.kind !== 'entry' || token.value !== HIDDEN_KEY_MARKER || token.controlCharacter || token.otherSpace !== null) continue;
    let key: string | undefined;
    if (token.lowerKey === 'privatekey' && token.section === 'interface') {
      if (stored) key = keyToBase64(stored.interface.privateKey);
    } else if (token.lowerKey === 'presharedkey' && token.section === 'peer') {
      const peer = stored?.peers.find((p) => keyToBase64(p.publicKey) === peerKeyOfLine.get(token.line));
      if (peer?.presharedKey) key = keyToBase64(peer.presharedKey);
    } else {
      continue; // the marker where no key is kept: the parser says what is wrong
    }
    key ??= standIn;
    if (key === undefined) {
      unresolved.push(token.line);
      continue;
    }
    const original = lines[token.line - 1]!;
    const carriageReturn = original.endsWith('\r') ? '\r' : '';
    const prefix = original.slice(0, original.length - token.raw.length - carriageReturn.length);
    lines[token.line - 1] = `${prefix}${token.raw.slice(0, token.valueStart)}${key}${token.raw.slice(token.valueEnd)}${carriageReturn}`;
  }
  return { text: lines.join('\n'), unresolved };
}

export interface HandlerContext {
  store: TunnelStore;
  manager: TunnelManager;
  inspector: ConfInspector;
  generateKeypair(): { privateKey: string; publicKey: string };
  helperVersion: string;
  /** Sends an event to subscribed clients. */
  broadcast(event: HelperEvent): void;
  /** Route claims and the kill switch; absent in tests that need neither. */
  guards?: TunnelGuards;
  /** The whole helper's log ring; absent in tests that do not read it. */
  helperLog?: HelperLog;
  /** The user turned a tunnel on or off: always-on retries of it stop (always-on.ts). */
  userChose?(name: string): void;
  /** The helper's own settings: read, and changed (stored and applied) by setSettings. */
  settings: {
    get(): HelperSettings;
    set(change: Partial<HelperSettings>): HelperSettings;
  };
}

type Handlers = { [T in RequestType]: (request: RequestOf<T>, client: ClientConnection) => Promise<ResultOf<T>> | ResultOf<T> };

export function createRequestHandler(ctx: HandlerContext): RequestHandler {
  const { store, manager, inspector } = ctx;

  const storeCall = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError) {
        throw new HandlerFailure(err.refusal === 'invalid_name' ? 'bad_request' : err.refusal, err.message);
      }
      throw err;
    }
  };

  const requireStored = (name: string) => {
    if (!store.has(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'; see the list of tunnels`);
  };

  const requireDown = (name: string, action: string) => {
    if (manager.isActive(name)) {
      throw new HandlerFailure('already_connected', `tunnel '${name}' is connected; disconnect it before you ${action} it`);
    }
  };

  /** The parser's problems, where a hidden key could not be restored said so instead. */
  const problemsOf = (text: string, unresolved: readonly number[]): ConfProblem[] => {
    const inspection = inspector.inspect(text);
    const found = inspection.ok ? [] : inspection.problems.filter((p) => !unresolved.includes(p.line));
    const hidden = unresolved.map((line) => ({
      line,
      message: `${HIDDEN_KEY_MARKER} keeps a stored key, but this tunnel has none stored for this place; paste the key here`,
    }));
    return [...found, ...hidden].sort((a, b) => a.line - b.line);
  };

  const storedConfigOf = (name: string): TunnelConfig | null => {
    const inspection = inspector.inspect(storeCall(() => store.read(name)));
    return inspection.ok ? inspection.config : null;
  };

  /** The linter's warnings, with the stored tunnels other than `self` for overlapping prefixes. */
  const warningsOf = (text: string, config: TunnelConfig, self: string | undefined): ConfProblem[] => {
    const otherTunnels = store
      .list()
      .filter((other) => other !== self)
      .flatMap((other) => {
        let stored: TunnelConfig | null;
        try {
          stored = storedConfigOf(other);
        } catch {
          stored = null; // unreadable right now: nothing to compare against
        }
        return stored ? [{ name: other, config: stored }] : [];
      });
    return inspector.warnings(text, config, otherTunnels);
  };

  /** The text's info and warnings, or an invalid_config failure with every problem. */
  const validate = (text: string, self: string, unresolved: readonly number[] = []) => {
    const inspection = inspector.inspect(text);
    if (!inspection.ok || unresolved.length > 0) {
      const problems = problemsOf(text, unresolved);
      const first = problems[0];
      throw new HandlerFailure('invalid_config', first ? formatProblem(first) : 'invalid configuration', problems);
    }
    return { ...inspection.info, warnings: warningsOf(text, inspection.config, self) };
  };

  const summaryOf = (name: string): TunnelSummary => {
    const status = manager.status(name);
    let text: string;
    try {
      text = store.read(name);
    } catch {
      text = '';
    }
    const inspection = inspector.inspect(text);
    if (!inspection.ok) {
      // Edited by hand into something invalid: still listed, so it can be fixed or deleted.
      const killSwitch = store.has(name) ? (store.meta(name).killSwitch ?? false) : false;
      return { name, publicKey: '', addresses: [], endpoints: [], hasScripts: false, scripts: null, fullTunnel: false, killSwitch, status };
    }
    const meta = store.has(name) ? store.meta(name) : undefined;
    const killSwitch = meta?.killSwitch ?? inspection.info.fullTunnel;
    const scripts = scriptsSummary(name, inspection.config, meta?.scriptsApproval);
    return { name, ...inspection.info, killSwitch, scripts, status };
  };

  const allStatuses = (): TunnelStatus[] => {
    const names = new Set([...store.list(), ...manager.activeNames()]);
    return [...names].sort().map((name) => manager.status(name));
  };

  const tunnelsChanged = () => {
    ctx.broadcast({ event: 'tunnels', tunnels: store.list().map(summaryOf) });
  };

  const handlers: Handlers = {
    list: () => ({ tunnels: store.list().map(summaryOf) }),

    get: ({ name }) => {
      requireStored(name);
      return { tunnel: summaryOf(name), confText: hideSecrets(storeCall(() => store.read(name))) };
    },

    import: ({ name, confText }) => {
      const info = validate(confText, name);
      storeCall(() => store.create(name, confText));
      // A metadata file left by a tunnel of this name that a crash did not remove approves nothing here.
      if (store.meta(name).scriptsApproval) storeCall(() => store.updateMeta(name, { scriptsApproval: undefined }));
      tunnelsChanged();
      return { name, hasScripts: info.hasScripts, fullTunnel: info.fullTunnel, warnings: info.warnings };
    },

    update: ({ name, confText }) => {
      requireStored(name);
      requireDown(name, 'change');
      const restored = restoreHiddenKeys(confText, storedConfigOf(name));
      const info = validate(restored.text, name, restored.unresolved);
      // An edit voids the approval of the scripts it changes, before the new text is in place.
      const approval = store.meta(name).scriptsApproval;
      const edited = inspector.inspect(restored.text);
      if (approval && !(edited.ok && scriptsApproved(name, edited.config, approval))) {
        storeCall(() => store.updateMeta(name, { scriptsApproval: undefined }));
      }
      storeCall(() => store.replace(name, restored.text));
      tunnelsChanged();
      return { name, hasScripts: info.hasScripts, fullTunnel: info.fullTunnel, warnings: info.warnings };
    },

    rename: ({ name, newName }) => {
      requireStored(name);
      requireDown(name, 'rename');
      if (manager.isActive(newName)) {
        throw new HandlerFailure('already_connected', `a tunnel named '${newName}' is connected`);
      }
      storeCall(() => store.rename(name, newName));
      manager.renamed(name, newName);
      tunnelsChanged();
      return { name: newName };
    },

    delete: ({ name }) => {
      requireStored(name);
      requireDown(name, 'delete');
      storeCall(() => store.remove(name));
      manager.forget(name);
      tunnelsChanged();
      return {};
    },

    connect: async ({ name }) => {
      requireStored(name);
      ctx.userChose?.(name);
      // Wanted on before it is up: a helper killed while connecting brings it back at start.
      const wasOn = store.meta(name).on;
      if (!wasOn) storeCall(() => store.updateMeta(name, { on: true }));
      const status = await manager.connect(name);
      if (status.status.state === 'failed') {
        // The person is told it failed; it is not left to come back on its own after a restart.
        if (!wasOn && store.has(name)) storeCall(() => store.updateMeta(name, { on: false }));
        throw new HandlerFailure('connect_failed', `tunnel '${name}' failed to connect: ${status.status.reason}`);
      }
      return { status };
    },

    disconnect: async ({ name }) => {
      // A failed tunnel is still on (its kill switch blocks): turning it off is what releases it.
      if (!manager.isActive(name) && manager.status(name).status.state !== 'failed') {
        if (!store.has(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
        throw new HandlerFailure('not_connected', `tunnel '${name}' is not connected`);
      }
      ctx.userChose?.(name);
      // Off before it goes down: a helper killed while disconnecting does not bring it back.
      if (store.has(name) && store.meta(name).on) storeCall(() => store.updateMeta(name, { on: false }));
      return { status: await manager.disconnect(name) };
    },

    status: ({ name }) => {
      if (name === undefined) return { tunnels: allStatuses() };
      if (!store.has(name) && !manager.isActive(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
      return { tunnels: [manager.status(name)] };
    },

    subscribe: ({ logs, logsOf }, client) => {
      client.subscribed = true;
      client.logs = logs ?? logsOf !== undefined;
      client.logsOf = logsOf ?? null;
      // The first status right away, so a new window has a snapshot before the first tick.
      queueMicrotask(() => client.send({ event: 'status', tunnels: allStatuses() } satisfies HelperEvent));
      return {};
    },

    unsubscribe: (_request, client) => {
      client.subscribed = false;
      client.logs = false;
      client.logsOf = null;
      return {};
    },

    logs: ({ name, limit }) => {
      if (!store.has(name) && !manager.isActive(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
      return { name, entries: manager.logs(name, limit) };
    },

    helperLog: ({ limit }) => ({ entries: ctx.helperLog?.recent(limit) ?? [] }),

    generateKeypair: () => ctx.generateKeypair(),

    export: ({ name }) => {
      requireStored(name);
      return { name, confText: storeCall(() => store.read(name)) };
    },

    show: ({ name }) => {
      if (!store.has(name) && !manager.isActive(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
      return { status: manager.status(name), device: manager.details(name) };
    },

    validate: ({ confText, name }) => {
      const stored = name !== undefined && store.has(name) ? storedConfigOf(name) : null;
      const restored = restoreHiddenKeys(confText, stored, name !== undefined && store.has(name) ? undefined : STAND_IN_KEY);
      const problems = problemsOf(restored.text, restored.unresolved);
      if (problems.length > 0) return { problems, hasScripts: false, fullTunnel: false, warnings: [] };
      const inspection = inspector.inspect(restored.text);
      return inspection.ok
        ? {
            problems: [],
            hasScripts: inspection.info.hasScripts,
            fullTunnel: inspection.info.fullTunnel,
            warnings: warningsOf(restored.text, inspection.config, name),
          }
        : { problems: inspection.problems, hasScripts: false, fullTunnel: false, warnings: [] };
    },

    setKillSwitch: async ({ name, enabled }) => {
      requireStored(name);
      const before = store.meta(name).killSwitch;
      storeCall(() => store.updateMeta(name, { killSwitch: enabled }));
      try {
        await ctx.guards?.settingChanged(name, enabled);
      } catch (err) {
        // The firewall refused: the stored setting goes back to what is in force.
        storeCall(() => store.updateMeta(name, { killSwitch: before }));
        throw new HandlerFailure('internal', `cannot turn the kill switch of '${name}' ${enabled ? 'on' : 'off'}: ${(err as Error).message}`);
      }
      tunnelsChanged();
      return { tunnel: summaryOf(name) };
    },

    setScriptsApproval: ({ name, approved }, client) => {
      // Root only, by the kernel's word: a member who may import and edit tunnels must not be
      // able to choose what runs as root. Without the peer's identity (no addon, Windows) nobody.
      if (client.peer?.uid !== 0) {
        throw new HandlerFailure(
          'forbidden',
          client.peer === null
            ? `approving scripts needs to know who asks, which the helper cannot tell here; scripts of '${name}' stay off`
            : `only root may ${approved ? 'approve' : 'withdraw the approval of'} a tunnel's scripts: run '${approved ? approveCommandFor(name) : `sudo wirelane scripts deny ${name}`}'`,
        );
      }
      requireStored(name);
      if (!approved) {
        if (store.meta(name).scriptsApproval) storeCall(() => store.updateMeta(name, { scriptsApproval: undefined }));
      } else {
        const config = storedConfigOf(name);
        if (config === null) throw new HandlerFailure('invalid_config', `tunnel '${name}' is not a valid configuration; fix it before approving its scripts`);
        if (!hasScripts(config)) throw new HandlerFailure('bad_request', `tunnel '${name}' has no PreUp, PostUp, PreDown or PostDown to approve`);
        storeCall(() => store.updateMeta(name, { scriptsApproval: { sha256: scriptsDigest(name, config), by: client.peer!.uid, at: Date.now() } }));
      }
      tunnelsChanged();
      return { tunnel: summaryOf(name) };
    },

    getSettings: () => ({ settings: ctx.settings.get() }),

    setSettings: ({ logLevel }) => ({ settings: ctx.settings.set(logLevel === undefined ? {} : { logLevel }) }),

    version: () => ({ helperVersion: ctx.helperVersion, protocolVersion: PROTOCOL_VERSION, platform: process.platform }),
  };

  return async (request, client) => {
    const handler = handlers[request.type] as (r: typeof request, c: ClientConnection) => unknown;
    return handler(request, client);
  };
}
