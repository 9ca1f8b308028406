/** `npm run lint`: ESLint and Prettier over the functions codebase. */
import { join } from "node:path";
import { ROOT, run } from "./lib/stack.mjs";

run("npm", ["run", "--silent", "lint"], { cwd: join(ROOT, "functions") });
