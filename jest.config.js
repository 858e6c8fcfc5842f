/** @type {import('jest').Config} */
module.exports = {
  // Node's environment plus a check that fails a file which leaves anything open (test/support/openResources.ts).
  testEnvironment: '<rootDir>/test/support/leakCheckEnvironment.js',
  setupFilesAfterEnv: ['<rootDir>/test/support/trackOpenResources.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  // A safety net, not a measure: tests wait for conditions, and a loaded machine may take its time.
  testTimeout: 60_000,
  // Files run in parallel, each against its own database; two workers match the machines' two cores.
  maxWorkers: 2,
};
