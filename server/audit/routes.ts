// The audit API for auditors and admins (docs/api.md, "Audit"): query, verify, export.
// Verifying the log and taking a copy of it are themselves recorded in the log.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type RequestHandler } from 'express';
import type { z } from 'zod';
import { badRequest, unauthenticated } from '../errors.ts';
import type { AirlockUser } from '../user.ts';
import { currentUser, requireUser } from '../http/current-user.ts';
import { assertMayReadAudit } from '../policies.ts';
import { auditQuerySchema } from './schema.ts';
import { describeIssue } from '../http/issues.ts';
import type { AuditLog } from './store.ts';

/** The signed-in auditor or admin; throws 401/403 for anyone else. */
function auditReader(req: Request): AirlockUser {
  const user = currentUser(req);
  if (user === undefined) throw unauthenticated();
  assertMayReadAudit(user);
  return user;
}

const requireAuditReader: RequestHandler = (req, _res, next) => {
  auditReader(req);
  next();
};

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown query parameter ${issue.keys.join(', ')}`;
      return describeIssue(issue, 'query');
    })
    .join('; ');
}

async function* ndjson(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}

const isClientGone = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE';

export function auditRoutes(audit: AuditLog): Router {
  const router = Router();
  router.use('/api/audit', requireUser, requireAuditReader);
  /** Reading the log as a whole (verifying, exporting) is itself on record. */
  const recordRead = (user: AirlockUser, action: 'audit.verified' | 'audit.exported', details: Record<string, unknown>) =>
    audit.append({ actor: { id: user.id, name: user.name }, action, target: null, outcome: 'ok', reason: null, details, site: null });

  router.get('/api/audit', async (req, res) => {
    const query = auditQuerySchema.safeParse(req.query);
    if (!query.success) throw badRequest('invalid_input', describeIssues(query.error));
    res.json(await audit.query(query.data));
  });

  router.get('/api/audit/verify', async (req, res) => {
    const user = auditReader(req);
    const result = await audit.verify();
    await recordRead(user, 'audit.verified', { ok: result.ok, checked: result.checked, firstBroken: result.firstBroken });
    res.json(result);
  });

  router.get('/api/audit/export', async (req, res) => {
    const user = auditReader(req);
    // Recorded before the copy is made, so the export carries its own event and a failed
    // transfer is still on record.
    await recordRead(user, 'audit.exported', { format: 'ndjson' });
    res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="airlock-audit-${new Date().toISOString().slice(0, 10)}.ndjson"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      await pipeline(Readable.from(ndjson(audit.exportLines())), res);
    } catch (err) {
      // The downloader went away: nothing left to answer. Anything else (Redis) is an error.
      if (!isClientGone(err)) throw err;
    }
  });

  return router;
}
