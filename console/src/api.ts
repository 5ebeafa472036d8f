// The console's one way to the server: POST /console/api with the session's cookie (sent by the browser) and
// its CSRF token (kept here, in memory). Every operation is one of the Athena or Glue APIs, or an Owl.* one.

export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
    public status: number,
  ) {
    super(message);
  }
}

let csrf = "";

export function setCsrf(token: string): void {
  csrf = token;
}

async function parse(r: Response): Promise<any> {
  const text = await r.text();
  let body: any = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError("InternalServerException", `the server answered ${r.status} with no JSON`, r.status);
  }
  if (!r.ok) {
    throw new ApiError(body.__type ?? "Error", body.Message ?? `HTTP ${r.status}`, r.status);
  }
  return body;
}

export let onLoggedOut: () => void = () => {};
export function whenLoggedOut(f: () => void): void {
  onLoggedOut = f;
}

export async function call(target: string, input: object = {}): Promise<any> {
  const r = await fetch("/console/api", {
    method: "POST",
    headers: { "content-type": "application/json", "x-owl-csrf": csrf },
    body: JSON.stringify({ Target: target, Input: input }),
    credentials: "same-origin",
  });
  try {
    return await parse(r);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) onLoggedOut();
    throw e;
  }
}

export async function session(): Promise<{ User: string; CsrfToken: string; WorkGroup: string; Functions?: string[] } | null> {
  const r = await fetch("/console/session", { credentials: "same-origin" });
  if (r.status === 401) return null;
  return parse(r);
}

export async function login(key: string, secret: string): Promise<{ User: string; CsrfToken: string }> {
  const r = await fetch("/console/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ AccessKeyId: key, SecretAccessKey: secret }),
    credentials: "same-origin",
  });
  return parse(r);
}

export async function logout(): Promise<void> {
  await fetch("/console/logout", {
    method: "POST",
    headers: { "content-type": "application/json", "x-owl-csrf": csrf },
    body: "{}",
    credentials: "same-origin",
  });
}
