import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LookupAddress } from "node:dns";
import {
  addressClass,
  assertAllowedUrl,
  guardedPost,
  PRODUCTION_POLICY,
  resolveAllowed,
  SsrfError,
  type Resolver,
} from "../../src/webhooks/ssrf";

const TEST_POLICY = { allowHttp: true, allowLoopback: true };

/** Every address class the guard must refuse, with a representative address. */
const REFUSED: Record<string, string[]> = {
  "IPv4 loopback": ["127.0.0.1", "127.255.255.254"],
  "IPv4 private 10/8": ["10.0.0.1", "10.255.255.255"],
  "IPv4 private 172.16/12": ["172.16.0.1", "172.31.255.254"],
  "IPv4 private 192.168/16": ["192.168.1.1"],
  "IPv4 CGNAT 100.64/10": ["100.64.0.1", "100.127.255.254"],
  "IPv4 link-local and metadata": ["169.254.0.1", "169.254.169.254"],
  "IPv4 multicast": ["224.0.0.1", "239.255.255.250"],
  "IPv4 unspecified": ["0.0.0.0", "0.1.2.3"],
  "IPv4 broadcast and reserved": ["255.255.255.255", "240.0.0.1", "192.0.2.10"],
  "IPv6 loopback": ["::1"],
  "IPv6 unspecified": ["::"],
  "IPv6 unique local fc00::/7": ["fc00::1", "fd12:3456:789a::1"],
  "IPv6 link-local fe80::/10": ["fe80::1", "febf::1"],
  "IPv6 multicast": ["ff02::1"],
  "IPv4-mapped IPv6 of private/loopback/metadata": ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254"],
  "NAT64 of private/metadata": ["64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1"],
  "6to4 of private": ["2002:a00:1::1", "2002:c0a8:101::1"],
  "IPv6 documentation / non-global": ["2001:db8::1", "::2"],
};

const PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"];

function resolverOf(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string): Promise<LookupAddress[]> => {
    calls.push(host);
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

describe("SSRF guard: address classes", () => {
  for (const [label, addresses] of Object.entries(REFUSED)) {
    it(`refuses ${label} as a literal and through a DNS name`, async () => {
      for (const address of addresses) {
        expect(addressClass(address)).not.toBe("unicast");
        const literal = address.includes(":") ? `[${address}]` : address;
        expect(() => assertAllowedUrl(`https://${literal}/hook`, PRODUCTION_POLICY)).toThrow(SsrfError);
        await expect(
          resolveAllowed(new URL(`https://${literal}/hook`), PRODUCTION_POLICY, resolverOf({})),
        ).rejects.toThrow(SsrfError);
        const resolve = resolverOf({ "hooks.example.com": [address] });
        await expect(
          resolveAllowed(new URL("https://hooks.example.com/x"), PRODUCTION_POLICY, resolve),
        ).rejects.toThrow(SsrfError);
      }
    });
  }

  it("accepts public unicast addresses, including mapped and NAT64 forms of public IPv4", async () => {
    for (const address of PUBLIC) {
      expect(addressClass(address)).toBe("unicast");
      const resolve = resolverOf({ "hooks.example.com": [address] });
      await expect(resolveAllowed(new URL("https://hooks.example.com/"), PRODUCTION_POLICY, resolve)).resolves.toEqual([
        { address, family: address.includes(":") ? 6 : 4 },
      ]);
    }
  });

  it("refuses a name whose answers mix public and private addresses", async () => {
    const resolve = resolverOf({ "mixed.example.com": ["93.184.216.34", "10.0.0.5"] });
    await expect(resolveAllowed(new URL("https://mixed.example.com/"), PRODUCTION_POLICY, resolve)).rejects.toThrow(
      /private/,
    );
  });

  it("refuses metadata and internal host names without resolving them", () => {
    for (const host of [
      "metadata.google.internal",
      "metadata.google.internal.",
      "metadata",
      "localhost",
      "svc.internal",
      "printer.local",
    ]) {
      expect(() => assertAllowedUrl(`https://${host}/`, PRODUCTION_POLICY)).toThrow(SsrfError);
    }
  });

  it("allows only https in production, and refuses credentials in URLs", () => {
    expect(() => assertAllowedUrl("http://hooks.example.com/", PRODUCTION_POLICY)).toThrow(/https/);
    expect(() => assertAllowedUrl("ftp://hooks.example.com/", TEST_POLICY)).toThrow(/https/);
    expect(() => assertAllowedUrl("https://user:pw@hooks.example.com/", PRODUCTION_POLICY)).toThrow(/credentials/);
    expect(() => assertAllowedUrl("not a url", PRODUCTION_POLICY)).toThrow(SsrfError);
    expect(assertAllowedUrl("https://hooks.example.com/a?b=1", PRODUCTION_POLICY).hostname).toBe("hooks.example.com");
  });

  it("lets the test allowance open loopback only, never the other classes", () => {
    expect(() => assertAllowedUrl("http://127.0.0.1:8000/", TEST_POLICY)).not.toThrow();
    expect(() => assertAllowedUrl("http://[::1]:8000/", TEST_POLICY)).not.toThrow();
    for (const address of ["10.0.0.1", "169.254.169.254", "192.168.0.1", "100.64.0.1"]) {
      expect(() => assertAllowedUrl(`http://${address}/`, TEST_POLICY)).toThrow(SsrfError);
    }
  });

  it("reports a name that does not resolve", async () => {
    await expect(
      resolveAllowed(new URL("https://nowhere.example/"), PRODUCTION_POLICY, resolverOf({})),
    ).rejects.toThrow(/does not resolve/);
  });
});

describe("SSRF guard: the connection", () => {
  let server: Server;
  let port: number;
  const seen: { path: string; host: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ path: req.url ?? "", host: req.headers.host });
      if (req.url === "/redirect") {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/landed` });
        res.end();
        return;
      }
      if (req.url === "/slow") return; // never answers
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("connects to the address it checked, not to a fresh DNS answer (rebinding)", async () => {
    // "receiver.test" exists only in our resolver: the request can reach 127.0.0.1 only through
    // the checked address. A rebinding resolver would answer differently on a second call.
    let calls = 0;
    const rebinding: Resolver = async () => {
      calls += 1;
      return [{ address: calls === 1 ? "127.0.0.1" : "10.0.0.1", family: 4 }];
    };
    const result = await guardedPost(
      `http://receiver.test:${port}/ok`,
      "{}",
      {},
      {
        policy: TEST_POLICY,
        timeoutMs: 2000,
        resolve: rebinding,
      },
    );
    expect(result.status).toBe(204);
    expect(calls).toBe(1);
    expect(seen.at(-1)).toEqual({ path: "/ok", host: `receiver.test:${port}` });
  });

  it("refuses a name that resolves to loopback without the test allowance", async () => {
    const before = seen.length;
    await expect(
      guardedPost(
        `https://receiver.test:${port}/ok`,
        "{}",
        {},
        {
          policy: PRODUCTION_POLICY,
          timeoutMs: 2000,
          resolve: resolverOf({ "receiver.test": ["127.0.0.1"] }),
        },
      ),
    ).rejects.toThrow(SsrfError);
    expect(seen.length).toBe(before);
  });

  it("does not follow redirects", async () => {
    const result = await guardedPost(
      `http://127.0.0.1:${port}/redirect`,
      "{}",
      {},
      { policy: TEST_POLICY, timeoutMs: 2000 },
    );
    expect(result.status).toBe(302);
    expect(seen.some((s) => s.path === "/landed")).toBe(false);
  });

  it("gives up after the timeout", async () => {
    await expect(
      guardedPost(`http://127.0.0.1:${port}/slow`, "{}", {}, { policy: TEST_POLICY, timeoutMs: 200 }),
    ).rejects.toThrow();
  });
});
