/**
 * The preload: exposes `window.wirelane`, derived from main/ipc-schema.ts by buildBridge, and
 * nothing else. The renderer never sees ipcRenderer; listeners get the payload, never the event.
 * Bundled to one CommonJS file (sandboxed preloads cannot import) by main/preload.vite.config.ts.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { buildBridge } from './bridge.js';

contextBridge.exposeInMainWorld(
  'wirelane',
  buildBridge({
    invoke: (channel, args) => ipcRenderer.invoke(channel, ...args),
    listen: (channel, listener) => {
      const wrapped = (_event: unknown, payload: unknown) => listener(payload);
      ipcRenderer.on(channel, wrapped);
      return () => void ipcRenderer.removeListener(channel, wrapped);
    },
  }),
);
