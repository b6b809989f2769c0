/**
 * Builds `window.wirelane` from the IPC schema: one method per invoke channel, one subscription
 * per push channel. The transport is passed in (ipcRenderer in the preload, a Playwright binding
 * in the e2e test), so the shape of the API is derived in exactly one place.
 */
import { channelOf, invokeNames, pushNames, type SubscribeOptions, type WirelaneApi } from './ipc-schema.js';

export interface BridgeTransport {
  invoke(channel: string, args: unknown[]): Promise<unknown>;
  /** Starts delivering a push channel to listener; returns the way to stop. */
  listen(channel: string, listener: (payload: unknown) => void): () => void;
}

export function buildBridge(transport: BridgeTransport): WirelaneApi {
  const api: Record<string, unknown> = {};
  for (const name of invokeNames) {
    const channel = channelOf(name);
    api[name] = (...args: unknown[]) => transport.invoke(channel, args);
  }
  for (const name of pushNames) {
    const channel = channelOf(name);
    api[name] = (listener: (payload: unknown) => void, options?: SubscribeOptions) => {
      if (typeof listener !== 'function') throw new TypeError(`${name} needs a listener function`);
      if (options?.signal?.aborted) return () => {};
      const stop = transport.listen(channel, (payload) => listener(payload));
      options?.signal?.addEventListener('abort', stop, { once: true });
      return stop;
    };
  }
  return Object.freeze(api) as WirelaneApi;
}
