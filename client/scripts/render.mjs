/**
 * Renders the generated API module from the repository at `root` (see generate.mjs). Pure: reads
 * files, returns text, so the staleness test can call it in memory.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const ident = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
const pascal = (name) => name[0].toUpperCase() + name.slice(1);

/** A TypeScript type for a JSON Schema, as a client may send it. */
export function schemaType(schema, indent = "") {
  if (schema === true || schema === undefined || schema === null) return "unknown";
  if (schema === false) return "never";
  // zod's "no value at all" (a call without data).
  if (schema.not && typeof schema.not === "object" && Object.keys(schema.not).length === 0) return "undefined";
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.map((s) => wrap(schemaType(s, indent))).join(" | ");
  if (schema.allOf) return schema.allOf.map((s) => wrap(schemaType(s, indent))).join(" & ");
  if (Array.isArray(schema.type)) return schema.type.map((t) => schemaType({ ...schema, type: t }, indent)).join(" | ");
  switch (schema.type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      if (Array.isArray(schema.items)) return `[${schema.items.map((s) => schemaType(s, indent)).join(", ")}]`;
      return `Array<${schemaType(schema.items, indent)}>`;
    case "object": {
      const required = new Set(schema.required ?? []);
      const inner = `${indent}  `;
      const lines = Object.entries(schema.properties ?? {}).map(([key, prop]) => {
        const doc = prop.description ? `${inner}/** ${prop.description} */\n` : "";
        return `${doc}${inner}${ident(key)}${required.has(key) ? "" : "?"}: ${schemaType(prop, inner)};`;
      });
      const extra = schema.additionalProperties;
      if (extra && typeof extra === "object") lines.push(`${inner}[key: string]: ${schemaType(extra, inner)};`);
      else if (extra === true || (extra === undefined && !schema.properties))
        lines.push(`${inner}[key: string]: unknown;`);
      return lines.length ? `{\n${lines.join("\n")}\n${indent}}` : "Record<string, never>";
    }
    default:
      return "unknown";
  }
}

const wrap = (t) => (t.includes(" | ") || t.includes(" & ") ? `(${t})` : t);

/** Builds a program over functions/src with the codebase's own compiler options. */
function program(functionsDir) {
  const configPath = join(functionsDir, "tsconfig.build.json");
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  return ts.createProgram(config.fileNames, { ...config.options, noEmit: true });
}

/** What JSON a handler's return type becomes on the wire, as TypeScript text. */
function wireType(checker, type, indent, seen) {
  const f = type.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return "unknown";
  if (f & ts.TypeFlags.Never) return "never";
  if (f & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) return "undefined";
  if (f & ts.TypeFlags.Null) return "null";
  if (f & ts.TypeFlags.StringLiteral) return JSON.stringify(type.value);
  if (f & ts.TypeFlags.NumberLiteral) return String(type.value);
  if (f & ts.TypeFlags.BooleanLiteral) return checker.typeToString(type);
  if (f & ts.TypeFlags.StringLike) return "string";
  if (f & ts.TypeFlags.NumberLike) return "number";
  if (f & ts.TypeFlags.BooleanLike) return "boolean";
  if (type.isUnion()) {
    const parts = [...new Set(type.types.map((t) => wrap(wireType(checker, t, indent, seen))))];
    // `true | false` reads better as boolean.
    if (parts.includes("true") && parts.includes("false"))
      parts.splice(parts.indexOf("true"), 1, "boolean") && parts.splice(parts.indexOf("false"), 1);
    return parts.join(" | ");
  }
  if (seen.has(type) || seen.size > 12) return "unknown";
  const name = type.aliasSymbol ? undefined : type.getSymbol()?.getName();
  // The callable protocol sends a Date through its toJSON (an ISO string) and other classes as
  // their own enumerable fields; functions and symbols do not survive.
  if (name === "Date") return "string";
  if (checker.isArrayType(type) || checker.isTupleType(type)) {
    const args = checker.getTypeArguments(type).map((t) => wireType(checker, t, indent, new Set([...seen, type])));
    return checker.isTupleType(type) ? `[${args.join(", ")}]` : `Array<${args[0]}>`;
  }
  if (type.getCallSignatures().length > 0) return "never";
  const next = new Set([...seen, type]);
  const inner = `${indent}  `;
  const lines = [];
  for (const prop of checker.getPropertiesOfType(type)) {
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (!decl || ts.isMethodDeclaration(decl) || ts.isMethodSignature(decl)) continue;
    if (prop.getName().startsWith("__@")) continue;
    const propType = checker.getTypeOfSymbolAtLocation(prop, decl);
    if (propType.getCallSignatures().length > 0) continue;
    const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
    const text = wireType(checker, optional ? checker.getNonNullableType(propType) : propType, inner, next);
    lines.push(`${inner}${ident(prop.getName())}${optional ? "?" : ""}: ${text};`);
  }
  for (const info of checker.getIndexInfosOfType(type)) {
    lines.push(`${inner}[key: string]: ${wireType(checker, info.type, inner, next)};`);
  }
  return lines.length ? `{\n${lines.join("\n")}\n${indent}}` : "Record<string, never>";
}

/** The awaited type `run(request)` resolves to for an exported callable. */
function handlerOutput(checker, symbol, decl) {
  const type = checker.getTypeOfSymbolAtLocation(symbol, decl);
  const run = type.getProperty("run");
  if (!run) return undefined;
  const signature = checker.getTypeOfSymbolAtLocation(run, decl).getCallSignatures()[0];
  if (!signature) return undefined;
  const returned = signature.getReturnType();
  return checker.getAwaitedType(returned) ?? returned;
}

const ERROR_HELPERS = {
  failedPrecondition: "failed-precondition",
  permissionDenied: "permission-denied",
  resourceExhausted: "resource-exhausted",
};

/** String literal values of `type` (a literal or a union of literals), or undefined for `string`. */
function literals(type) {
  if (type.isStringLiteral()) return [type.value];
  if (type.isUnion() && type.types.every((t) => t.isStringLiteral())) return type.types.map((t) => t.value);
  return undefined;
}

/**
 * Every error reason: the `reason` of an object literal typed as `ErrorDetails` (the details of
 * an `AppError`), and the `reason` argument of the error helpers in platform/errors.ts.
 */
function errorReasons(checker, files, root, warnings) {
  const reasons = new Map();
  const add = (values, code, fields) => {
    for (const value of values) {
      const entry = reasons.get(value) ?? { codes: new Set(), fields: new Map() };
      if (code) entry.codes.add(code);
      for (const [k, v] of fields) entry.fields.set(k, v);
      reasons.set(value, entry);
    }
  };
  const where = (node) => {
    const sf = node.getSourceFile();
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
    return `${sf.fileName.slice(root.length + 1)}:${line + 1}`;
  };
  const calls = [];
  const objectLiterals = [];
  const collect = (node) => {
    if (ts.isCallExpression(node)) calls.push(node);
    if (ts.isObjectLiteralExpression(node)) objectLiterals.push(node);
    ts.forEachChild(node, collect);
  };
  for (const sf of files) collect(sf);
  const calleeSymbol = (fn) => {
    const name = ts.isFunctionDeclaration(fn)
      ? fn.name
      : ts.isVariableDeclaration(fn.parent)
        ? fn.parent.name
        : undefined;
    return name && checker.getSymbolAtLocation(name);
  };
  // A `reason` typed `string` is often a helper's parameter (`ended(reason)`): then the reasons
  // are the literals its callers pass.
  const resolve = (expr, depth = 0) => {
    if (ts.isConditionalExpression(expr)) {
      const a = resolve(expr.whenTrue, depth);
      const b = resolve(expr.whenFalse, depth);
      return a && b ? [...a, ...b] : undefined;
    }
    const direct = literals(checker.getTypeAtLocation(expr));
    if (direct || depth > 4) return direct;
    if (ts.isPropertyAccessExpression(expr)) return viaProperty(expr, depth);
    if (ts.isCallExpression(expr)) return viaReturns(expr, depth);
    if (!ts.isIdentifier(expr)) return undefined;
    const shorthand = ts.isShorthandPropertyAssignment(expr.parent) && expr.parent.name === expr;
    const symbol0 = shorthand
      ? checker.getShorthandAssignmentValueSymbol(expr.parent)
      : checker.getSymbolAtLocation(expr);
    const param = symbol0?.valueDeclaration;
    if (param && ts.isVariableDeclaration(param) && param.initializer) return resolve(param.initializer, depth + 1);
    if (!param || !ts.isParameter(param)) return undefined;
    const fn = param.parent;
    const symbol = calleeSymbol(fn);
    if (!symbol) return undefined;
    const index = fn.parameters.indexOf(param);
    const values = [];
    for (const call of calls) {
      if (!ts.isIdentifier(call.expression) || checker.getSymbolAtLocation(call.expression) !== symbol) continue;
      const arg = call.arguments[index] ?? param.initializer;
      const found = arg && resolve(arg, depth + 1);
      if (!found) return undefined;
      values.push(...found);
    }
    return values.length ? values : undefined;
  };
  // `x.reason` typed `string`: the literals of every object literal whose `reason` is that same
  // declared property (a helper's `{ ok: false; reason: string }` result, say).
  const viaProperty = (expr, depth) => {
    const declaration = checker.getSymbolAtLocation(expr.name)?.declarations?.[0];
    if (!declaration) return undefined;
    const values = [];
    for (const literal of objectLiterals) {
      const prop = literal.properties.find((p) => p.name?.getText() === expr.name.text && ts.isPropertyAssignment(p));
      const found = prop && checker.getContextualType(literal);
      if (!found) continue;
      const context = checker.getNonNullableType(found);
      const members = context.isUnion() ? context.types : [context];
      // Of a union, only the member this literal is (its literal-valued fields, like `kind`, fit).
      const fits = (t) =>
        literal.properties.every((q) => {
          if (!ts.isPropertyAssignment(q)) return true;
          const value = literals(checker.getTypeAtLocation(q.initializer));
          const member = t.getProperty(q.name.getText());
          if (!value || !member) return true;
          const allowed = literals(checker.getTypeOfSymbolAtLocation(member, literal));
          return !allowed || value.every((v) => allowed.includes(v));
        });
      const owner = members.filter(fits);
      if (!owner.some((t) => t.getProperty(expr.name.text)?.declarations?.includes(declaration))) continue;
      const resolved = resolve(prop.initializer, depth + 1);
      if (!resolved) return undefined;
      values.push(...resolved);
    }
    return values.length ? values : undefined;
  };
  // A call typed `string | null`: the literals its function returns.
  const viaReturns = (call, depth) => {
    const fn = checker.getResolvedSignature(call)?.getDeclaration();
    if (!fn?.body) return undefined;
    const values = [];
    let ok = true;
    const walk = (node) => {
      if (ts.isFunctionLike(node) && node !== fn) return;
      if (ts.isReturnStatement(node) && node.expression) {
        const type = checker.getTypeAtLocation(node.expression);
        if (!(type.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined))) {
          const resolved = resolve(node.expression, depth + 1);
          if (resolved) values.push(...resolved);
          else ok = false;
        }
      }
      ts.forEachChild(node, walk);
    };
    ts.forEachChild(fn.body, walk);
    return ok && values.length ? values : undefined;
  };
  const visit = (node) => {
    if (ts.isObjectLiteralExpression(node)) {
      const found = checker.getContextualType(node);
      const contextual = found && checker.getNonNullableType(found);
      const named = contextual?.aliasSymbol?.getName() ?? contextual?.getSymbol()?.getName();
      const reasonProp = node.properties.find((p) => p.name && p.name.getText() === "reason");
      // The helpers in platform/errors.ts only pass their `reason` parameter on; their callers count.
      const inHelpers = node.getSourceFile().fileName.endsWith("platform/errors.ts");
      if (named === "ErrorDetails" && reasonProp && !inHelpers) {
        const values = ts.isPropertyAssignment(reasonProp) ? resolve(reasonProp.initializer) : resolve(reasonProp.name);
        const construct = node.parent && ts.isNewExpression(node.parent) ? node.parent : undefined;
        const codeArg = construct?.arguments?.[0];
        const code = codeArg && ts.isStringLiteral(codeArg) ? codeArg.text : undefined;
        const fields = new Map();
        for (const p of node.properties) {
          if (!p.name || p === reasonProp || !(ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)))
            continue;
          fields.set(
            p.name.getText(),
            wireType(checker, checker.getBaseTypeOfLiteralType(checker.getTypeAtLocation(p.name)), "  ", new Set()),
          );
        }
        if (values) add(values, code, fields);
        else warnings.push(`reason at ${where(reasonProp)} is not a string literal type; not in ErrorReason`);
      }
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && ERROR_HELPERS[node.expression.text]) {
      const declaration = checker.getResolvedSignature(node)?.getDeclaration();
      const params = declaration?.parameters ?? [];
      const index = params.findIndex((p) => p.name.getText() === "reason");
      if (declaration?.getSourceFile().fileName.endsWith("platform/errors.ts") && index >= 0 && node.arguments[index]) {
        const values = resolve(node.arguments[index]);
        const code = ERROR_HELPERS[node.expression.text];
        const fields = new Map(code === "resource-exhausted" ? [["retryAfterSeconds", "number"]] : []);
        if (values) add(values, code, fields);
        else warnings.push(`reason at ${where(node)} is not a string literal type; not in ErrorReason`);
      }
    }
    ts.forEachChild(node, visit);
  };
  for (const sf of files) visit(sf);
  return reasons;
}

export function renderApi(root) {
  const warnings = [];
  const reference = JSON.parse(readFileSync(join(root, "docs", "api-reference.json"), "utf8"));
  const callables = reference.functions.filter((f) => f.kind === "callable");
  const functionsDir = join(root, "functions");
  const prog = program(functionsDir);
  const checker = prog.getTypeChecker();
  const srcDir = join(functionsDir, "src");
  const files = prog.getSourceFiles().filter((sf) => sf.fileName.startsWith(srcDir) && !sf.isDeclarationFile);

  // Exported callables by name, wherever their module defines them (index.ts wires them lazily).
  const outputs = new Map();
  const wanted = new Set(callables.map((f) => f.name));
  for (const sf of files) {
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    if (!moduleSymbol) continue;
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      if (!wanted.has(symbol.getName()) || outputs.has(symbol.getName())) continue;
      const decl = symbol.valueDeclaration;
      if (!decl) continue;
      const out = handlerOutput(checker, symbol, decl);
      if (out) outputs.set(symbol.getName(), wireType(checker, out, "", new Set()));
    }
  }
  const reasons = errorReasons(checker, files, root, warnings);

  const out = [];
  out.push(
    "// Generated by client/scripts/generate.mjs from docs/api-reference.json (inputs) and the",
    "// handlers' return types in functions/src (outputs, error reasons). Do not edit.",
    "/* eslint-disable */",
    'import type { CallableClient } from "../call.js";',
    'import { callFunction } from "../call.js";',
    "",
  );
  const meta = [];
  for (const fn of callables) {
    const base = pascal(fn.name);
    const output = outputs.get(fn.name);
    if (!output) warnings.push(`no handler type found for ${fn.name}; its output is unknown`);
    const input = fn.input ? schemaType(fn.input) : "Record<string, never>";
    const withKey = fn.idempotent ? `${wrap(input)} & { idempotencyKey?: string }` : input;
    out.push(`/** Input of \`${fn.name}\`. */`, `export type ${base}Input = ${withKey};`);
    out.push(`/** Output of \`${fn.name}\`. */`, `export type ${base}Output = ${output ?? "unknown"};`);
    // No data at all is allowed when the schema admits zod's "nothing" ({ not: {} }) at the top.
    const admitsNothing = (fn.input?.anyOf ?? []).some((s) => s.not && Object.keys(s.not).length === 0);
    const optional = fn.noArguments || !fn.input || admitsNothing;
    const doc = [fn.description];
    if (fn.tenant)
      doc.push(
        `Acts in the caller's active tenant${fn.permission ? `; needs \`${JSON.stringify(fn.permission)}\`` : ""}.`,
      );
    if (fn.requireMfa) doc.push("Needs an MFA-verified session.");
    if (fn.sensitive) doc.push("Sensitive: needs a recent sign-in.");
    if (fn.idempotent)
      doc.push(`Idempotent (${fn.idempotent === true ? "key optional" : fn.idempotent}): see \`idempotent()\`.`);
    out.push(
      `/** ${doc.join(" ")} */`,
      `export function ${fn.name}(client: CallableClient, input${optional ? "?" : ""}: ${base}Input): Promise<${base}Output> {`,
      `  return callFunction<${base}Input, ${base}Output>(client, ${JSON.stringify(fn.name)}, input);`,
      "}",
      "",
    );
    meta.push(`  ${fn.name}: { idempotent: ${JSON.stringify(fn.idempotent)}, tenant: ${fn.tenant} },`);
  }
  out.push("/** Every callable's name, with what the client needs to know at run time. */");
  out.push("export const CALLABLES = {", ...meta, "} as const;", "");
  out.push("export type CallableName = keyof typeof CALLABLES;", "");
  out.push("/** Inputs and outputs by callable name. */", "export interface Api {");
  for (const fn of callables)
    out.push(`  ${fn.name}: { input: ${pascal(fn.name)}Input; output: ${pascal(fn.name)}Output };`);
  out.push("}", "");

  const sorted = [...reasons.keys()].sort();
  out.push("/** Every `details.reason` the server sends, with the code and the other detail fields it comes with. */");
  out.push("export interface ErrorReasons {");
  for (const reason of sorted) {
    const { codes, fields } = reasons.get(reason);
    const codeType = codes.size
      ? [...codes]
          .sort()
          .map((c) => JSON.stringify(c))
          .join(" | ")
      : "ErrorCode";
    const fieldLines = [...fields.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => ` ${ident(k)}?: ${v};`);
    out.push(`  ${JSON.stringify(reason)}: { code: ${codeType}; details: {${fieldLines.join("")} } };`);
  }
  out.push("}", "");
  out.push("export type ErrorReason = keyof ErrorReasons;", "");
  out.push(
    "/** The Functions error codes a callable can answer with. */",
    "export type ErrorCode =",
    ...[
      "cancelled",
      "unknown",
      "invalid-argument",
      "deadline-exceeded",
      "not-found",
      "already-exists",
      "permission-denied",
      "resource-exhausted",
      "failed-precondition",
      "aborted",
      "out-of-range",
      "unimplemented",
      "internal",
      "unavailable",
      "data-loss",
      "unauthenticated",
    ].map((c, i, all) => `  | ${JSON.stringify(c)}${i === all.length - 1 ? ";" : ""}`),
    "",
  );
  return { source: out.join("\n"), warnings };
}
