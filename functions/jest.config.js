/** Jest projects: unit (pure logic, no emulators) and integration/e2e (real emulators). */
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
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
      displayName: "rules",
      testMatch: ["<rootDir>/test/rules/**/*.test.ts"],
      setupFiles: ["<rootDir>/test/support/env.ts"],
    },
  ],
};
