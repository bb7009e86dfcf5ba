/**
 * The files a managed member (agent or gateway) keeps in its state dir (spec 50 "Identity"):
 *
 *   STATE_DIR/identity/key.json     private EC P-256 JWK, generated on this host, never sent anywhere (0600)
 *   STATE_DIR/identity/member.json  member id, name, kind, labels, the controller it enrolled with
 *   STATE_DIR/identity/credential   the current short-lived credential (JWT, 0600), rewritten on renewal
 *   STATE_DIR/manifest.json         the last manifest applied successfully (0600), started from when the
 *                                   controller is down
 *
 * Every write goes to a temporary file that is renamed over the old one, so a crash never leaves half a
 * file and readers (pipe workers read the credential file) never see one.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { JWK } from 'jose';
import type { ManifestFrame, MemberKind } from '../../protocol/index.ts';

export interface MemberInfo {
  member_id: string;
  name: string;
  kind: MemberKind;
  labels: Record<string, string>;
  controller_url: string;
  enrolled_at: string;
}

export interface IdentityPaths { dir: string; key: string; member: string; credential: string; manifest: string }

export function identityPaths(stateDir: string): IdentityPaths {
  const dir = join(stateDir, 'identity');
  return { dir, key: join(dir, 'key.json'), member: join(dir, 'member.json'), credential: join(dir, 'credential'), manifest: join(stateDir, 'manifest.json') };
}

/** Atomic 0600 write (temp file + rename). */
export function writePrivateFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The file's text, or undefined when it does not exist (any other error is thrown). */
export function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface StoredIdentity { info: MemberInfo; privateJwk: JWK; credential: string }

/** The identity in the state dir, or undefined when this host has not enrolled yet. Throws on a damaged one. */
export function loadIdentity(paths: IdentityPaths): StoredIdentity | undefined {
  const info = readIfExists(paths.member);
  if (info === undefined) return undefined;
  const key = readIfExists(paths.key);
  const credential = readIfExists(paths.credential);
  if (key === undefined || credential === undefined) throw new Error(`${paths.dir} is incomplete (key.json or credential missing): remove the directory and enroll again with a new --token`);
  try {
    return { info: JSON.parse(info) as MemberInfo, privateJwk: JSON.parse(key) as JWK, credential: credential.trim() };
  } catch (e) {
    throw new Error(`${paths.dir} is damaged (${(e as Error).message}): remove the directory and enroll again with a new --token`, { cause: e });
  }
}

export function saveIdentity(paths: IdentityPaths, id: StoredIdentity): void {
  writePrivateFile(paths.key, `${JSON.stringify(id.privateJwk)}\n`);
  writePrivateFile(paths.credential, `${id.credential}\n`);
  writePrivateFile(paths.member, `${JSON.stringify(id.info, null, 2)}\n`);
}

export function loadCachedManifest(paths: IdentityPaths): ManifestFrame | undefined {
  const text = readIfExists(paths.manifest);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ManifestFrame;
  } catch {
    return undefined; // a damaged cache is ignored: the controller sends the manifest again
  }
}
