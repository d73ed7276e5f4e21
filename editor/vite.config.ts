// Builds the editor into editor/dist, which `skyloom serve` serves at its root.
// `npx vite editor` runs a dev server that proxies /api and /ws to SKYLOOM_URL (default the CLI's port).

import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const target = process.env.SKYLOOM_URL ?? 'http://127.0.0.1:8188';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    // Timing notes depend on how busy the machine is, not on the build: an install prints none.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: {
    fs: { allow: ['..'] },
    // The server answers its own origin only; through the proxy the page is same-origin to it.
    proxy: {
      '/api': {
        target,
        changeOrigin: true,
        configure: (proxy) => proxy.on('proxyReq', (req) => req.removeHeader('origin')),
      },
      '/ws': {
        target: target.replace(/^http/, 'ws'),
        ws: true,
        changeOrigin: true,
        configure: (proxy) => proxy.on('proxyReqWs', (req) => req.removeHeader('origin')),
      },
    },
  },
});
