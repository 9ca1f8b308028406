/**
 * Jest projects: unit (pure logic: mapping, conversion, readers) and emulator (the CLI and the
 * migrator against a Firestore emulator at FIRESTORE_EMULATOR_HOST).
 */
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
};

module.exports = {
  projects: [
    { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    {
      ...base,
      displayName: "emulator",
      testMatch: ["<rootDir>/test/emulator/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/build.js",
    },
  ],
};
