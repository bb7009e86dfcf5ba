/**
 * Rotation of the credential-signing key. The ring holds every key the controller still answers for:
 *
 * - a new key is **published before it signs**: `rotate` adds it with `activeFrom = now + activation`, so
 *   every replica (they reload the ring) and every gateway (it refetches the JWKS on an unknown key id)
 *   can know it before the first credential signed with it is shown to them;
 * - the key it replaces is **retired** at that moment and stays published while credentials it signed can
 *   still be presented: `retiredAt + keep` (credential lifetime + renewal grace), then it is dropped.
 *
 * Pure logic over entries; where the entries live is a KeyringStorage (signing-key.ts: a 0600 file with
 * SQLite, a sealed row in the database with PostgreSQL replicas). The ring is written whole: rotations are
 * rare operator actions, and the one that writes last wins.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SigningKeyInfo } from '../../protocol/index.ts';
import { keyFromPrivateJwk, type SigningKey, type StoredEntry } from './signing-key.ts';

export interface RingEntry {
  key: SigningKey;
  privateJwk: JWK;
  createdAt: number;
  /** Signs credentials from this time on (until a newer key is active). */
  activeFrom: number;
  /** When a newer key took over (null: the newest). */
  retiredAt: number | null;
}

export const toStored = (e: RingEntry): StoredEntry => ({ jwk: e.privateJwk, created_at: e.createdAt, active_from: e.activeFrom, retired_at: e.retiredAt });

export async function fromStored(s: StoredEntry, invalid: string): Promise<RingEntry> {
  return { key: await keyFromPrivateJwk(s.jwk, invalid), privateJwk: s.jwk, createdAt: s.created_at, activeFrom: s.active_from, retiredAt: s.retired_at };
}

export async function newEntry(now: number, activeFrom: number): Promise<RingEntry> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(pair.privateKey);
  return fromStored({ jwk, created_at: now, active_from: activeFrom, retired_at: null }, '');
}

export class SigningKeyring {
  /** Bumped on every change, so verifiers rebuild their key set only when needed. */
  version = 0;

  constructor(private entries: RingEntry[], private readonly keepMs: number) {
    if (entries.length === 0) throw new Error('a keyring needs at least one key');
  }

  /** The key that signs at `now`: the newest already active (the oldest when none is, which only a clock jump can cause). */
  signer(now: number): SigningKey {
    const active = this.entries.filter((e) => e.activeFrom <= now);
    return (active.length > 0 ? active[active.length - 1] : this.entries[0]).key;
  }

  /** Keys to publish and to verify with: every key not yet past retirement + keep. */
  published(now: number): RingEntry[] {
    return this.entries.filter((e) => e.retiredAt === null || e.retiredAt + this.keepMs > now);
  }

  info(now: number): SigningKeyInfo[] {
    const signing = this.signer(now).kid;
    return this.published(now).map((e) => ({
      kid: e.key.kid, created_at: iso(e.createdAt), active_from: iso(e.activeFrom), retired_at: e.retiredAt === null ? null : iso(e.retiredAt),
      published_until: e.retiredAt === null ? null : iso(e.retiredAt + this.keepMs), signing: e.key.kid === signing,
    }));
  }

  /** Adds a key active at `activeFrom`; every older key not yet retired retires then. Drops keys past keep. */
  rotate(next: RingEntry, now: number): void {
    for (const e of this.entries) if (e.retiredAt === null) e.retiredAt = next.activeFrom;
    this.entries = [...this.published(now), next];
    this.version++;
  }

  replace(entries: RingEntry[]): void {
    if (entries.length === 0) return;
    this.entries = entries;
    this.version++;
  }

  stored(): StoredEntry[] {
    return this.entries.map(toStored);
  }

  /** Same keys and times as `other` (a reload that found nothing new). */
  sameAs(other: StoredEntry[]): boolean {
    return JSON.stringify(this.stored().map(({ jwk, ...t }) => ({ kid: jwk.x, ...t }))) === JSON.stringify(other.map(({ jwk, ...t }) => ({ kid: jwk.x, ...t })));
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
