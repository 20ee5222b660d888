// Jest 30 on native ESM (LAB.md): @swc/jest transforms TypeScript, run with
// NODE_OPTIONS=--experimental-vm-modules (the `jest` npm script sets it). Type-checking is tsc's job.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts', '.tsx'],
  transform: {
    '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } } }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/{server,sessions,recordings}/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
  testTimeout: 60_000,
  // A suite that fails half-way can leave a socket or a browser behind; CI must still end.
  // Passing suites clean up after themselves (checked with --detectOpenHandles).
  forceExit: true,
  maxWorkers: 1,
};
