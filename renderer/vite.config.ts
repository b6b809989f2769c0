// Builds the renderer into renderer/dist with relative asset paths, so the same files load from
// file:// in Electron and from the e2e test's local HTTP server.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'chrome130',
    sourcemap: true,
    // No inline scripts or modulepreload polyfill: the CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // One local bundle (CodeMirror, jsQR); it never crosses a network.
    chunkSizeWarningLimit: 2000,
  },
});
