/**
 * What each tray menu item does, over plain dependencies, so the tray's behaviour (and its
 * notifications) is tested under Node; main/index.ts hands in Electron's dialogs and window.
 */
import type { AppSettingsPort } from './app-settings.js';
import { isQrImageFileName, readImportFiles } from '../engine/conf/import-bundle.js';
import type { IpcHandlers, PickedFile } from './ipc-schema.js';
import { connectFailureNotification, type NotificationGate } from './notifications.js';
import type { TrayAction } from './tray-model.js';

export interface TrayActionDeps {
  relay: Pick<IpcHandlers, 'connectTunnel' | 'disconnectTunnel'>;
  settings: Pick<AppSettingsPort, 'change'>;
  notifications: Pick<NotificationGate, 'offer'>;
  /** Opens (or raises) the window. */
  showWindow: () => Promise<void>;
  /** The open dialog; null when cancelled. */
  pickImportFiles: () => Promise<PickedFile[] | null>;
  /** Hands picked files to the window's import flow (opening the window first). */
  importInWindow: (files: PickedFile[]) => Promise<void>;
  showError: (title: string, body: string) => void;
  quit: () => void;
  now?: () => number;
}

export function createTrayActions(deps: TrayActionDeps): (action: TrayAction) => Promise<void> {
  const now = deps.now ?? Date.now;
  return async (action) => {
    switch (action.type) {
      case 'connect': {
        const clickedAt = now();
        const result = await deps.relay.connectTunnel(action.name);
        // The tunnel's state turning to failed reports the same event: the gate keeps one.
        if (!result.ok) deps.notifications.offer(connectFailureNotification(action.name, result.error.message), clickedAt);
        return;
      }
      case 'disconnect': {
        const result = await deps.relay.disconnectTunnel(action.name);
        if (!result.ok) deps.showError(`${action.name} was not disconnected`, result.error.message);
        return;
      }
      case 'manage':
        await deps.showWindow();
        return;
      case 'import': {
        const files = await deps.pickImportFiles();
        if (!files) return;
        // Check the bundle here so a file with nothing usable says so even with no window open.
        const bundle = readImportFiles(files);
        // QR images are read by the window (it has the canvas to decode them).
        if (bundle.candidates.length === 0 && !files.some((f) => isQrImageFileName(f.fileName))) {
          deps.showError('Nothing to import', bundle.skipped.join('\n') || 'No .conf file was chosen.');
          return;
        }
        await deps.importInWindow(files);
        return;
      }
      case 'toggle-launch-at-login': {
        const changed = await deps.settings.change({ launchAtLogin: action.enabled });
        if (!changed.ok) deps.showError('Launch at login was not changed', changed.error.message);
        return;
      }
      case 'quit':
        deps.quit();
        return;
    }
  };
}
