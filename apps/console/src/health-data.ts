/** GET one of the server's unauthenticated health answers (/_trent/health, /_trent/ready): no credentials are sent. */
export async function fetchHealth(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(path, { credentials: 'omit', cache: 'no-store' });
  const body = (await r.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: r.status, body };
}
