// The image's HEALTHCHECK: the slim base image has no curl, so node itself asks /healthz on the
// port the server listens on (MANDATE_PORT). Exit 0 when it answers 200 within 2 s, 1 otherwise.
const port = process.env.MANDATE_PORT || '4000';
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
