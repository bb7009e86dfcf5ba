/**
 * The one place that knows the concrete view engines: everything else in the gateway codes against
 * ViewDriver. A driver name accepted by the config schema must be constructible here.
 */
import type { ViewKind } from '../config/resolved-config.ts';
import { ForestView } from '../view-forest/forest-view.ts';
import { FsView } from '../view-fs/fs-view.ts';
import type { Clock, FsViewSettings, ViewDriver } from '../view/view-driver.ts';

export function createView(viewId: string, kind: ViewKind, settings: FsViewSettings, clock?: Clock): ViewDriver {
  switch (kind) {
    case 'fs':
      return new FsView(viewId, settings, clock);
    case 'forest-fs':
      return new ForestView(viewId, settings, clock);
  }
}
