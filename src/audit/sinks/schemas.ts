import { type Static, Type } from '@sinclair/typebox';

export const CreateAuditSink = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Where batches are POSTed: https (http only for loopback with MANDATE_DEV_ALLOW_LOOPBACK_FETCH).',
    }),
  },
  { additionalProperties: false },
);
export type CreateAuditSink = Static<typeof CreateAuditSink>;

/** A sink as listed: its delivery state, never its secret. */
export const AuditSink = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  url: Type.String({ description: 'Where batches are POSTed; a query string is shown as `?…` (it may hold a receiver token).' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  delivered_seq: Type.Integer({ description: 'Last event seq the receiver acknowledged (or that was dead-lettered).' }),
  attempts: Type.Integer({ description: 'Failed attempts at the batch now being retried.' }),
  next_attempt_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  dead_letters: Type.Integer({ description: 'Batches given up on after MANDATE_AUDIT_SINK_MAX_ATTEMPTS attempts.' }),
  last_error: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type AuditSink = Static<typeof AuditSink>;

export const CreatedAuditSink = Type.Object({
  ...AuditSink.properties,
  secret: Type.String({ description: 'HMAC-SHA256 key of x-mandate-signature (mnd_whs_…). Shown once.' }),
});
export type CreatedAuditSink = Static<typeof CreatedAuditSink>;
