/**
 * SSRF protection for outbound webhooks.
 *
 * A tenant chooses the URL, so it is hostile input: it may name a private service, the metadata
 * server, or a DNS name that resolves to either (now or only at delivery time). The guard
 *
 *  - accepts https only (http only when the emulator allowance is on);
 *  - resolves the host itself, checks every address, and hands the checked address to the socket
 *    through a custom `lookup`, so a second, different DNS answer (rebinding) is never used;
 *  - refuses every address that is not global unicast (ipaddr.js's range table), unwrapping
 *    IPv4-mapped, NAT64 and 6to4 IPv6 addresses to check the IPv4 inside;
 *  - never follows redirects (a 3xx is just a failed attempt).
 *
 * Loopback is allowed only with the explicit test/emulator allowance, so a local receiver can be
 * used in tests while every other class stays refused.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import * as ipaddr from "ipaddr.js";

export interface AddressPolicy {
  /** Accept `http:` URLs (emulator only). */
  allowHttp: boolean;
  /** Accept loopback addresses (tests and emulator only). */
  allowLoopback: boolean;
}

export const PRODUCTION_POLICY: AddressPolicy = { allowHttp: false, allowLoopback: false };

/** Resolves a host name to all of its addresses. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export class SsrfError extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = "SsrfError";
  }
}

const BLOCKED_NAMES = /^(localhost|metadata|metadata\.google\.internal|instance-data)$|\.(localhost|internal|local)$/i;

/**
 * The range class of an address after unwrapping embedded IPv4 (mapped, NAT64, 6to4):
 * "unicast" for a public address, otherwise the ipaddr.js range name (loopback, private, …).
 */
export function addressClass(address: string): string {
  if (!ipaddr.isValid(address)) return "invalid";
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return parsed.range();
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  if (range === "ipv4Mapped" || range === "rfc6145") return addressClass(v6.toIPv4Address().toString());
  if (range === "rfc6052") {
    // NAT64 (64:ff9b::/96): the last 32 bits are the IPv4 destination the gateway will reach.
    const [, , , , , , hi, lo] = v6.parts;
    return addressClass(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  if (range === "6to4") {
    const [, hi, lo] = v6.parts;
    return addressClass(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  // Only global unicast (2000::/3) is routable on the internet; anything else is refused.
  if (range === "unicast" && !v6.match(ipaddr.IPv6.parse("2000::"), 3)) return "nonGlobal";
  return range;
}

/** Throws `SsrfError` unless `address` may be connected to under `policy`. */
export function assertAllowedAddress(address: string, policy: AddressPolicy): void {
  const kind = addressClass(address);
  if (kind === "unicast") return;
  if (kind === "loopback" && policy.allowLoopback) return;
  throw new SsrfError(`Refusing to connect to a ${kind} address`, `blocked-${kind}`);
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets.
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/** Static checks on a URL (scheme, credentials, blocked names, literal addresses). */
export function assertAllowedUrl(raw: string, policy: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SsrfError("Not a valid URL", "invalid-url");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    throw new SsrfError("Only https URLs are allowed", "scheme");
  }
  if (url.username || url.password) throw new SsrfError("URLs may not carry credentials", "credentials");
  const host = hostOf(url);
  if (ipaddr.isValid(host)) {
    assertAllowedAddress(host, policy);
  } else if (BLOCKED_NAMES.test(host.replace(/\.$/, ""))) {
    if (!(policy.allowLoopback && /^localhost$/i.test(host))) {
      throw new SsrfError("Refusing an internal host name", "blocked-name");
    }
  }
  return url;
}

/**
 * Resolves `url`'s host with `resolve` and checks every address (one bad answer refuses the
 * whole name: a round-robin that includes a private address is not trusted). Returns the
 * addresses to connect to.
 */
export async function resolveAllowed(url: URL, policy: AddressPolicy, resolve: Resolver): Promise<LookupAddress[]> {
  const host = hostOf(url);
  if (ipaddr.isValid(host)) {
    assertAllowedAddress(host, policy);
    return [{ address: host, family: ipaddr.parse(host).kind() === "ipv4" ? 4 : 6 }];
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    throw new SsrfError("The host name does not resolve", "dns");
  }
  if (addresses.length === 0) throw new SsrfError("The host name does not resolve", "dns");
  for (const { address } of addresses) assertAllowedAddress(address, policy);
  return addresses;
}

export interface PostResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  latencyMs: number;
}

export interface GuardedPostOptions {
  policy: AddressPolicy;
  timeoutMs: number;
  resolve?: Resolver;
  now?: () => number;
  /** Largest response body read (the rest is discarded); receivers' bodies are not stored. */
  maxResponseBytes?: number;
}

/**
 * POSTs `body` to `rawUrl` through the SSRF guard and returns the status (never follows
 * redirects). Rejects with `SsrfError` for refused destinations, or a network/timeout error.
 */
export async function guardedPost(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: GuardedPostOptions,
): Promise<PostResult> {
  const now = options.now ?? Date.now;
  const url = assertAllowedUrl(rawUrl, options.policy);
  const addresses = await resolveAllowed(url, options.policy, options.resolve ?? systemResolver);
  const started = now();
  const transport = url.protocol === "https:" ? https : http;
  const maxBytes = options.maxResponseBytes ?? 64 * 1024;

  return new Promise<PostResult>((resolvePromise, reject) => {
    const request = transport.request(
      url,
      {
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        // The socket connects to the addresses checked above, never to a fresh DNS answer;
        // TLS still uses the URL's host name for SNI and certificate checks.
        lookup: ((_host: string, opts: { all?: boolean }, callback: (...args: unknown[]) => void) => {
          if (opts?.all) callback(null, addresses);
          else callback(null, addresses[0].address, addresses[0].family);
        }) as never,
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (response) => {
        let read = 0;
        response.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > maxBytes) response.destroy();
        });
        const done = () =>
          resolvePromise({ status: response.statusCode ?? 0, headers: response.headers, latencyMs: now() - started });
        response.on("end", done);
        response.on("close", done);
        response.on("error", done);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}
