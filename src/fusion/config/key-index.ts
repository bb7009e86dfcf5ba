/**
 * Who a key is (spec 10, "Authentication"): a receiver key authorises ingest for exactly one pipe; a view
 * key (`api_keys`) authorises queries of that view; an admin key (`admin_keys`) also authorises
 * `DELETE /reset` of that view (and its queries). One key may hold several grants (e.g. a query key
 * shared by two views). Built from the resolved config and swapped whole on reload.
 */
import type { ResolvedConfig } from './resolved-config.ts';

export interface KeyGrant {
  /** Set for receiver keys: the pipe it may push to and the receiver that declared it. */
  pipe: { pipeId: string; receiverId: string } | null;
  views: Set<string>;
  adminViews: Set<string>;
}

export class KeyIndex {
  private constructor(private readonly grants: Map<string, KeyGrant>) {}

  static build(config: ResolvedConfig): KeyIndex {
    const grants = new Map<string, KeyGrant>();
    const grantOf = (key: string): KeyGrant => {
      let g = grants.get(key);
      if (g === undefined) {
        g = { pipe: null, views: new Set(), adminViews: new Set() };
        grants.set(key, g);
      }
      return g;
    };
    for (const r of config.receivers.values()) {
      if (r.disabled) continue;
      for (const k of r.keys) grantOf(k.key).pipe = { pipeId: k.pipeId, receiverId: r.id };
    }
    for (const v of config.views.values()) {
      if (v.disabled) continue;
      for (const k of v.apiKeys) grantOf(k).views.add(v.id);
      for (const k of v.adminKeys) {
        const g = grantOf(k);
        g.views.add(v.id);
        g.adminViews.add(v.id);
      }
    }
    return new KeyIndex(grants);
  }

  lookup(key: string): KeyGrant | undefined {
    return this.grants.get(key);
  }
}
