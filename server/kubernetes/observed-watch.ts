import 'server-only';

import { Watch, type KubeConfig } from '@kubernetes/client-node';

/**
 * client-node's Watch that also says when the server accepted the watch (answered 200), and
 * closes one accepted after its informer was stopped: ListWatch aborts only the request it holds,
 * which it gets only once watch() returns, so a stop while the headers are awaited would leave
 * that watch open, unowned.
 */
export class ObservedWatch extends Watch {
  constructor(
    kubeConfig: KubeConfig,
    private readonly isCurrent: () => boolean,
    private readonly onOpen: () => void,
  ) {
    super(kubeConfig);
  }

  override async watch(
    ...[path, queryParams, callback, done]: Parameters<Watch['watch']>
  ): Promise<AbortController> {
    let refused = false;
    const controller = await super.watch(path, queryParams, callback, (error: unknown) => {
      if (error) refused = true;
      done(error);
    });
    if (!this.isCurrent()) controller.abort();
    // A refused watch has called done before watch() returns; an accepted one streams on.
    else if (!refused && !controller.signal.aborted) this.onOpen();
    return controller;
  }
}
