import { defineConfig } from 'vitest/config';

// One run for the whole suite. Files run one at a time: integration and conformance tests share
// the real RabbitMQ (one even restarts it), and the machine has two cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
