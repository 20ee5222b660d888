// Builds the browser app into dist/client, which the portal serves.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/client', import.meta.url)),
    emptyOutDir: true,
    // The portal's CSP forbids inline scripts and styles: keep everything in files.
    assetsInlineLimit: 0,
  },
});
