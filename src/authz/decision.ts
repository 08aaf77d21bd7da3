/**
 * The authorization decision lives in the SDK (sdk/src/decision.ts), so a resource server can
 * run exactly the evaluation Mandate runs, in-process, on the fast path.
 */
export * from '../../sdk/src/decision.js';
