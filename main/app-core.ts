/**
 * The app's core, with or without Electron: the helper client, main's view of the tunnels, and
 * the relay the window calls, wired together, with every push for the window handed to `push`.
 * main/index.ts adds the tray, notifications and dialogs around it; main/browser-mode.ts serves it
 * to a local browser.
 */
import type { Logger } from '../engine/logger.js';
import type { AppSettingsPort } from './app-settings.js';
import { HelperClient } from './helper-client.js';
import type { IpcHandlers, PushName, PushPayload } from './ipc-schema.js';
import { createRelay, type DesktopServices } from './relay.js';
import { TunnelStoreView } from './tunnel-store-view.js';

export interface AppCoreOptions {
  socketPath: string;
  logger: Logger;
  platform: NodeJS.Platform;
  /** Whether the helper looks installed (its socket folder exists). */
  isInstalled: () => boolean;
  desktop: DesktopServices;
  /** Delivers a push to the window (webContents.send, or the browser host's event stream). */
  push: <K extends PushName>(name: K, payload: PushPayload<K>) => void;
  /** The app's settings (main/app-settings.ts); in memory when not given. */
  appSettings?: AppSettingsPort;
}

export interface AppCore {
  client: HelperClient;
  view: TunnelStoreView;
  relay: IpcHandlers;
  /** Tunnels the person turned off, so their going down is not announced as a drop. */
  requestedDisconnects: Set<string>;
}

export function createAppCore(options: AppCoreOptions): AppCore {
  const client = new HelperClient({ socketPath: options.socketPath, logger: options.logger, isInstalled: options.isInstalled, subscribe: { logs: true } });
  const view = new TunnelStoreView(client.availability, options.platform);
  const requestedDisconnects = new Set<string>();

  client.onAvailability((availability) => {
    view.setHelper(availability);
    if (availability.state !== 'running') return;
    client.request('list', {}).then(
      (listed) => {
        if (listed.ok) view.setTunnels(listed.value.tunnels);
      },
      // The connection dropped before the reply; the next 'running' lists again.
      () => {},
    );
  });
  client.onEvent((event) => {
    view.applyEvent(event);
    if (event.event === 'log') options.push('onLog', { name: event.name, entry: event.entry });
  });
  view.onChange((change) => {
    if (change.kind === 'snapshot') options.push('onSnapshot', change.snapshot);
    else options.push('onStatus', change.next);
  });

  const relay = createRelay({
    client,
    view,
    desktop: options.desktop,
    requestedDisconnects,
    ...(options.appSettings ? { appSettings: options.appSettings } : {}),
  });
  return { client, view, relay, requestedDisconnects };
}
