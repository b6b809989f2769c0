// Component tests of the renderer (test/unit/renderer-*.test.tsx) in happy-dom.
// Run: npx vitest run --config renderer/vitest.config.ts
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  plugins: [react()],
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    environment: 'happy-dom',
    include: ['test/unit/renderer-*.test.tsx'],
    css: false,
  },
});
