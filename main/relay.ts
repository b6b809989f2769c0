/**
 * What each window call does: almost all are one helper request, relayed. Main adds only what
 * the sandboxed renderer cannot do itself (native dialogs, writing an export, the clipboard),
 * through the `DesktopServices` it is handed, so the same relay runs under Electron, in unit
 * tests and in the e2e test (where the "window" is Chromium driven by Playwright).
 */
import { strToU8, zipSync } from 'fflate';
import { memoryAppSettings, type AppSettingsPort } from './app-settings.js';
import type { HelperClient } from './helper-client.js';
import type { HelperLogEntry, LogEntry } from '../engine/helper/protocol.js';
import type { IpcHandlers, IpcResult, PickedFile } from './ipc-schema.js';
import type { TunnelStoreView } from './tunnel-store-view.js';

export interface DesktopServices {
  /** Shows the open dialog for .conf/.zip files; null when cancelled. */
  pickImportFiles(): Promise<PickedFile[] | null>;
  /** Shows the save dialog; null when cancelled. */
  chooseSavePath(defaultFileName: string, kind: 'conf' | 'zip' | 'log'): Promise<string | null>;
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  copyText(text: string): void;
}

export interface RelayDeps {
  client: Pick<HelperClient, 'request'>;
  view: TunnelStoreView;
  desktop: DesktopServices;
  /** Tunnels the person turned off, so their going down is not announced as a drop. */
  requestedDisconnects: Set<string>;
  /** The app's own settings; kept in memory when the host has none to store (tests). */
  appSettings?: AppSettingsPort;
}

const cancelled = { ok: false, error: { code: 'cancelled', message: 'cancelled' } } as const;

/** A log as text for the clipboard or a file: one line each, ISO time, level, tunnel, message. */
export function formatLogText(entries: readonly (LogEntry | HelperLogEntry)[]): string {
  return entries
    .map((e) => `${new Date(e.time).toISOString()} ${e.level.toUpperCase().padEnd(5)} ${'name' in e ? `${e.name ?? 'helper'}: ` : ''}${e.message}\n`)
    .join('');
}

export function createRelay(deps: RelayDeps): IpcHandlers {
  const { client, view, desktop } = deps;
  const appSettings = deps.appSettings ?? memoryAppSettings();
  const logText = async (name: string | null): Promise<IpcResult<string>> => {
    const result = name === null ? await client.request('helperLog', {}) : await client.request('logs', { name });
    return result.ok ? { ok: true, value: formatLogText(result.value.entries) } : result;
  };
  return {
    getSnapshot: async () => ({ ok: true, value: view.snapshot() }),
    getTunnel: (name) => client.request('get', { name }),
    validateConf: (confText, name) => client.request('validate', name === undefined ? { confText } : { confText, name }),
    importTunnel: (name, confText) => client.request('import', { name, confText }),
    updateTunnel: (name, confText) => client.request('update', { name, confText }),
    renameTunnel: (name, newName) => client.request('rename', { name, newName }),
    deleteTunnel: (name) => client.request('delete', { name }),
    connectTunnel: (name) => client.request('connect', { name }),
    disconnectTunnel: async (name) => {
      deps.requestedDisconnects.add(name);
      const result = await client.request('disconnect', { name });
      if (!result.ok) deps.requestedDisconnects.delete(name);
      return result;
    },
    getLogs: (name) => client.request('logs', { name }),
    generateKeypair: () => client.request('generateKeypair', {}),
    pickImportFiles: async () => {
      const files = await desktop.pickImportFiles();
      return files ? { ok: true, value: files } : cancelled;
    },
    exportTunnels: async (names): Promise<IpcResult<{ savedTo: string }>> => {
      const texts: { name: string; confText: string }[] = [];
      for (const name of names) {
        const exported = await client.request('export', { name });
        if (!exported.ok) return exported;
        texts.push(exported.value);
      }
      const single = texts.length === 1 ? texts[0] : undefined;
      const path = await desktop.chooseSavePath(single ? `${single.name}.conf` : 'wirelane-tunnels.zip', single ? 'conf' : 'zip');
      if (path === null) return cancelled;
      const bytes = single
        ? strToU8(single.confText)
        : zipSync(Object.fromEntries(texts.map((t) => [`${t.name}.conf`, strToU8(t.confText)])));
      await desktop.writeFile(path, bytes);
      return { ok: true, value: { savedTo: path } };
    },
    getTunnelDetails: (name) => client.request('show', { name }),
    getHelperLog: () => client.request('helperLog', {}),
    copyLog: async (name) => {
      const text = await logText(name);
      if (!text.ok) return text;
      desktop.copyText(text.value);
      return { ok: true, value: null };
    },
    saveLog: async (name) => {
      const text = await logText(name);
      if (!text.ok) return text;
      const path = await desktop.chooseSavePath(`${name ?? 'wirelane-helper'}.log`, 'log');
      if (path === null) return cancelled;
      await desktop.writeFile(path, strToU8(text.value));
      return { ok: true, value: { savedTo: path } };
    },
    copyPublicKey: async (key) => {
      desktop.copyText(key);
      return { ok: true, value: null };
    },
    getAppSettings: async () => ({ ok: true, value: appSettings.get() }),
    setAppSettings: (change) => appSettings.change(change),
    getHelperSettings: () => client.request('getSettings', {}),
    setHelperSettings: (change) => client.request('setSettings', change),
    setKillSwitch: (name, enabled) => client.request('setKillSwitch', { name, enabled }),
  };
}
