/** Node flag bits, stored in the Uint8 `flags` column of the tree store. */
export const FLAG_DIRECTORY = 1;
/** The node may be out of date (e.g. a realtime event was lost); counted for files only. */
export const FLAG_SUSPECT = 2;
/** NOT known by the agent (the node came from elsewhere, e.g. an audit). */
export const FLAG_AGENT_MISSING = 4;
export const FLAG_AUDIT_SKIPPED = 8;
/** Added by a blind-spot scan; counted for files and directories. */
export const FLAG_BLIND_SPOT = 16;

/** Flags a caller may change with `setFlag` (the directory bit is fixed at creation). */
export const MUTABLE_FLAGS = FLAG_SUSPECT | FLAG_AGENT_MISSING | FLAG_AUDIT_SKIPPED | FLAG_BLIND_SPOT;

export interface NodeFlags {
  readonly DIRECTORY: typeof FLAG_DIRECTORY;
  readonly SUSPECT: typeof FLAG_SUSPECT;
  readonly AGENT_MISSING: typeof FLAG_AGENT_MISSING;
  readonly AUDIT_SKIPPED: typeof FLAG_AUDIT_SKIPPED;
  readonly BLIND_SPOT: typeof FLAG_BLIND_SPOT;
}

export const NodeFlags: NodeFlags = Object.freeze({
  DIRECTORY: FLAG_DIRECTORY,
  SUSPECT: FLAG_SUSPECT,
  AGENT_MISSING: FLAG_AGENT_MISSING,
  AUDIT_SKIPPED: FLAG_AUDIT_SKIPPED,
  BLIND_SPOT: FLAG_BLIND_SPOT,
});
