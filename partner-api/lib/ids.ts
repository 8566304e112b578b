import crypto from 'node:crypto';

/** A prefixed id with 96 random bits: `newId('tkt')` → `tkt_3f9c…`. Unguessable across workspaces. */
export function newId(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(12).toString('hex')}`;
}
