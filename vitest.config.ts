import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Compiles .vue single-file components for the editor's component tests (tests/editor).
  plugins: [vue()],
  test: {
    include: ['tests/**/*.test.ts'],
    // Model and ffmpeg tests spawn real processes on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
