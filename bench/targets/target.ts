/** What the harness knows of a server under test, however it was started. */

/** The resource both servers issue tokens for, with the single scope `read`. */
export const RESOURCE = 'https://api.bench.test/';

/** A confidential client (client_secret_basic, client_credentials) allowed `read` on {@link RESOURCE}. */
export interface Credentials {
  id: string;
  secret: string;
}

export interface RunningTarget {
  /** Name and version, as written in the results: `mandate 0.1.0`, `oidc-provider 9.13.3`. */
  name: string;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Paths of the endpoints the scenarios call. */
  endpoints: { token: string; introspection: string };
  client: Credentials;
  /** Mandate only: an admin key and the body of one decision request. */
  decision?: { adminKey: string; body: string };
  stop(): Promise<void>;
}

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding. */
export function basicAuth({ id, secret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
