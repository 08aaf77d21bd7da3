import type { IncomingMessage } from 'node:http';
import { newId } from '../crypto/ids.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && SAFE_ID.test(value) ? value : undefined;
}

/** Keeps a caller's `x-request-id` when it is a safe token (no log injection), else makes one. */
export function requestIdOf(req: IncomingMessage): string {
  return headerValue(req, 'x-request-id') ?? newId('req');
}

/** The correlation id that ties a whole agent run together: `x-correlation-id`, else the request id. */
export function correlationIdOf(req: IncomingMessage, requestId: string): string {
  return headerValue(req, 'x-correlation-id') ?? requestId;
}
