/**
 * Workspace API keys: `wsk_live_` + 32 random base62 characters (190 bits) + a 6-character base62 CRC32 of
 * the random part. The checksum lets a typo be told apart from a revoked or unknown key without a lookup,
 * as GitHub's tokens do. Only the SHA-256 of the whole key is stored: the keys are long and random, so a
 * fast hash is enough and a lookup by hash needs no per-request key stretching.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';

import { randomBase62, toBase62 } from '../lib/base62';

export const KEY_PREFIX = 'wsk_live_';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_PATTERN = /^wsk_live_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;
/** Shown in lists so a person can tell keys apart: the prefix and the first 4 random characters. */
const DISPLAY_LENGTH = KEY_PREFIX.length + 4;

export const SCOPES = ['events:read', 'contacts:write', 'tickets:write', 'chat:write'] as const;
export type Scope = (typeof SCOPES)[number];

/** True for one of SCOPES' four names, exactly (case-sensitive). */
export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

function checksum(random: string): string {
  return toBase62(zlib.crc32(random), CHECKSUM_LENGTH);
}

/** A new key: `wsk_live_` + 32 random base62 characters + the 6-character checksum (47 characters in all). */
export function generateApiKey(): string {
  const random = randomBase62(RANDOM_LENGTH);
  return `${KEY_PREFIX}${random}${checksum(random)}`;
}

/** True when `key` has the format and a checksum that matches: a candidate worth looking up. */
export function isWellFormedApiKey(key: string): boolean {
  const [, body, check] = KEY_PATTERN.exec(key) ?? [];
  return body !== undefined && checksum(body) === check;
}

/** The SHA-256 of a key or token as 64 lowercase hex characters: what is stored and looked up (ADR 0003). */
export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex');
}

/** The first 13 characters (`wsk_live_` and 4 random ones): safe to show and log, too short to use. */
export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_LENGTH);
}

/** Agent console tokens: long random secrets, hashed like keys; no checksum, as only the console uses them. */
export const AGENT_TOKEN_PREFIX = 'agt_tok_';

/** A new agent console token: `agt_tok_` + 38 random base62 characters (46 characters in all). */
export function generateAgentToken(): string {
  return `${AGENT_TOKEN_PREFIX}${randomBase62(RANDOM_LENGTH + CHECKSUM_LENGTH)}`;
}
