// ESLint flat config: typescript-eslint recommended, plus the rules that protect tenant isolation.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["lib/**", "coverage/**", "node_modules/**", "jest.config.js"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Module code must stay inside its tenant: no raw Firestore, no climbing out of a reference.
    files: ["src/**/*.ts"],
    // src/sessions and src/mfa: sessions/{id} and users/{uid}/private/mfa are per-user, not tenant data.
    ignores: [
      "src/platform/**",
      "src/tenancy/**",
      "src/health/**",
      "src/rbac/effective.ts",
      "src/sessions/**",
      "src/mfa/**",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        { paths: [{ name: "../platform/admin", importNames: ["rootFirestore"], message: "Use the tenant-scoped db." }] },
      ],
      "no-restricted-properties": [
        "error",
        { property: "firestore", message: "Do not reach the unscoped Firestore from a tenant reference." },
        { property: "parent", message: "Do not navigate out of the tenant scope." },
      ],
    },
  },
);
