/**
 * One function per control API request. They receive requests already validated against
 * protocol.ts, and answer with the result the protocol declares or throw HandlerFailure.
 *
 * Store changes are refused while the tunnel is up (update, rename, delete), so the running
 * device and its stored file never disagree; a refused or invalid request changes nothing.
 */
import { HandlerFailure, type ClientConnection, type RequestHandler } from './server.js';
import {
  PROTOCOL_VERSION,
  type HelperEvent,
  type RequestOf,
  type RequestType,
  type ResultOf,
  type TunnelStatus,
  type TunnelSummary,
} from './protocol.js';
import { StoreError, type TunnelStore } from './store.js';
import { hideSecrets, type ConfInspector } from './conf-info.js';
import type { TunnelManager } from './tunnel-manager.js';

export interface HandlerContext {
  store: TunnelStore;
  manager: TunnelManager;
  inspector: ConfInspector;
  generateKeypair(): { privateKey: string; publicKey: string };
  helperVersion: string;
  /** Sends an event to subscribed clients. */
  broadcast(event: HelperEvent): void;
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

  const validate = (text: string) => {
    const inspection = inspector.inspect(text);
    if (!inspection.ok) {
      const first = inspection.problems[0];
      const where = first && first.line > 0 ? `line ${first.line}: ` : '';
      throw new HandlerFailure('invalid_config', `${where}${first?.message ?? 'invalid configuration'}`, inspection.problems);
    }
    return inspection.info;
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
      return { name, publicKey: '', addresses: [], endpoints: [], hasScripts: false, fullTunnel: false, status };
    }
    return { name, ...inspection.info, status };
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
      const info = validate(confText);
      storeCall(() => store.create(name, confText));
      tunnelsChanged();
      return { name, hasScripts: info.hasScripts, fullTunnel: info.fullTunnel };
    },

    update: ({ name, confText }) => {
      requireStored(name);
      requireDown(name, 'change');
      const info = validate(confText);
      storeCall(() => store.replace(name, confText));
      tunnelsChanged();
      return { name, hasScripts: info.hasScripts, fullTunnel: info.fullTunnel };
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
      const status = await manager.connect(name);
      if (status.status.state === 'failed') {
        throw new HandlerFailure('connect_failed', `tunnel '${name}' failed to connect: ${status.status.reason}`);
      }
      return { status };
    },

    disconnect: async ({ name }) => {
      if (!manager.isActive(name)) {
        if (!store.has(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
        throw new HandlerFailure('not_connected', `tunnel '${name}' is not connected`);
      }
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

    generateKeypair: () => ctx.generateKeypair(),

    export: ({ name }) => {
      requireStored(name);
      return { name, confText: storeCall(() => store.read(name)) };
    },

    show: ({ name }) => {
      if (!store.has(name) && !manager.isActive(name)) throw new HandlerFailure('not_found', `no tunnel named '${name}'`);
      return { status: manager.status(name), device: manager.details(name) };
    },

    version: () => ({ helperVersion: ctx.helperVersion, protocolVersion: PROTOCOL_VERSION, platform: process.platform }),
  };

  return async (request, client) => {
    const handler = handlers[request.type] as (r: typeof request, c: ClientConnection) => unknown;
    return handler(request, client);
  };
}
