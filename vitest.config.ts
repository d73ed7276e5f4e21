import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Model and ffmpeg tests spawn real processes on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
