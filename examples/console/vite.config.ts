import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The console imports the client library from source, so it always shows the current library; one
// copy of the Firebase SDK (the console's) serves both, or the SDK's components would not register.
export default defineConfig({
  resolve: {
    alias: { "@saas-core/client": fileURLToPath(new URL("../../client/src/index.ts", import.meta.url)) },
    dedupe: [
      "firebase",
      "@firebase/app",
      "@firebase/auth",
      "@firebase/functions",
      "@firebase/firestore",
      "@firebase/component",
    ],
  },
  server: { strictPort: true, host: "127.0.0.1" },
  clearScreen: false,
});
