/** Jest projects: unit (pure logic, no emulators); integration, e2e, client (web SDK) and rules (real emulators). */
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

module.exports = {
  collectCoverageFrom: ["src/**/*.ts", "!src/index.ts"],
  coverageReporters: ["text-summary", "lcov"],
  projects: [
    { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"], setupFiles: ["<rootDir>/test/support/env.ts"] },
    {
      ...base,
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...base,
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...base,
      displayName: "client",
      testMatch: ["<rootDir>/test/client/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
    {
      ...base,
      displayName: "rules",
      testMatch: ["<rootDir>/test/rules/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
  ],
};
