/**
 * Helpers for end-to-end tests over HTTP against the functions emulator.
 */
const origin = (): string => process.env.FUNCTIONS_EMULATOR_ORIGIN as string;

/** The emulator URL of an exported function. */
export function functionUrl(name: string, region = "us-central1"): string {
  return `${origin()}/${process.env.GCLOUD_PROJECT}/${region}/${name}`;
}

export interface CallableHttpResponse<T = unknown> {
  status: number;
  result?: T;
  error?: { status: string; message: string; details?: Record<string, unknown> };
}

/** Calls a callable over HTTP with the callable protocol (`{"data": …}`). */
export async function callCallable<T = unknown>(
  name: string,
  data: unknown,
  idToken?: string,
  opts: { rawBody?: string } = {},
): Promise<CallableHttpResponse<T>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (idToken) headers.authorization = `Bearer ${idToken}`;
  const res = await fetch(functionUrl(name), {
    method: "POST",
    headers,
    body: opts.rawBody ?? JSON.stringify({ data }),
  });
  const text = await res.text();
  let json: { result?: T; error?: CallableHttpResponse["error"] } = {};
  try {
    json = JSON.parse(text);
  } catch {
    // Non-JSON answers (e.g. a body that is not JSON at all) keep only the status.
  }
  return { status: res.status, result: json.result, error: json.error };
}
