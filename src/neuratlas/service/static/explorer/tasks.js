// The page's asynchronous work: what is pending (the page is "ready" when nothing is),
// and channels in which a newer task makes the older one stale (a second parcellation
// chosen before the first one has loaded must not be overtaken by it).

export class Tasks {
  /** `onBusy()` when work starts while idle or not; `onIdle()` when the last one ends;
   * `onError(error)` for a task's failure (unless the task went stale). */
  constructor({ onBusy, onIdle, onError }) {
    Object.assign(this, { onBusy, onIdle, onError });
    this.pending = new Set();
    this.latest = new Map(); // channel -> the token of its newest task
  }

  /** Count a promise (one that never rejects) as pending work. */
  track(promise) {
    this.pending.add(promise);
    this.onBusy();
    const settle = () => {
      this.pending.delete(promise);
      if (!this.pending.size) this.onIdle();
    };
    promise.then(settle, settle);
    return promise;
  }

  /** Resolves (to true) once no work is pending, including work started meanwhile. */
  async whenIdle() {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    return true;
  }

  /**
   * Run `work(stale)` as the newest task of a channel: an older one of the same channel
   * sees stale() turn true and stops at its next step. Resolves when it ends; its error
   * goes to onError.
   */
  run(channel, work) {
    const token = {};
    this.latest.set(channel, token);
    const stale = () => this.latest.get(channel) !== token;
    return this.track(
      work(stale).catch((error) => {
        if (!stale()) this.onError(error);
      }),
    );
  }

  /** Make a channel's running task stale. */
  cancel(channel) {
    this.latest.delete(channel);
  }
}
