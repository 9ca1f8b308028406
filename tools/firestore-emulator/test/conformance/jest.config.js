/**
 * Conformance suite config: the package's jest config + ONE global setup that starts our
 * emulator (or uses FIRESTORE_EMULATOR_HOST if already set) for all files.
 *
 *   npx jest -c test/conformance/jest.config.js --runInBand
 *
 * (Plain `npx jest test/conformance --runInBand` also works: without globalSetup each file
 * starts its own emulator in beforeAll — see helpers.ts.)
 */
const path = require("node:path");
const pkgRoot = path.resolve(__dirname, "../..");
module.exports = {
  rootDir: pkgRoot,
  testEnvironment: "node",
  roots: ["<rootDir>/test/conformance"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/conformance/tsconfig.json" }],
  },
  globalSetup: "<rootDir>/test/conformance/globalSetup.ts",
  globalTeardown: "<rootDir>/test/conformance/globalTeardown.ts",
  testTimeout: 30000,
};
