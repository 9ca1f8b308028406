/** Jest projects: unit (pure logic, no emulators); integration, e2e, client (web SDK), rules and failure (real emulators). */
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
    // otplib's audited crypto/base32 dependencies ship ESM only; Node 22 loads them with
    // require(esm), Jest's module system does not, so they are compiled to CJS for tests.
    "/node_modules/@(scure|noble)/.+\\.js$": ["ts-jest", { tsconfig: { allowJs: true }, diagnostics: false }],
  },
  transformIgnorePatterns: ["/node_modules/(?!@(scure|noble)/)"],
};

// Suites against the emulators: the official Firestore emulator resolves contention with lock
// waits, and the functions emulator starts a worker per new concurrent request, so first calls
// take seconds. A generous per-test bound keeps them about behaviour, not speed.
// Each file's Firestore work is drained before Jest tears it down (test/support/environment.ts).
const emulated = {
  ...base,
  testTimeout: 30_000,
  testEnvironment: "<rootDir>/test/support/environment.ts",
  setupFilesAfterEnv: ["<rootDir>/test/support/drain.ts"],
};

module.exports = {
  collectCoverageFrom: ["src/**/*.ts", "!src/index.ts"],
  coverageReporters: ["text-summary", "lcov"],
  projects: [
    {
      ...base,
      displayName: "unit",
      testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...emulated,
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...emulated,
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...emulated,
      displayName: "client",
      testMatch: ["<rootDir>/test/client/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...base,
      // Kill or cut a dependency mid-test (scripts/test.mjs runs them after the other suites).
      displayName: "failure",
      testMatch: ["<rootDir>/test/failure/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...emulated,
      displayName: "rules",
      testMatch: ["<rootDir>/test/rules/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
  ],
};
