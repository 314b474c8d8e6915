/**
 * Runs `run` every `intervalMs` (counted from the end of the previous run, so runs never
 * overlap) between start() and stop(). A failing run is handed to `onError` and the loop goes on.
 * stop() waits for a run in progress, so whoever stops it knows nothing runs afterwards.
 * The timer is unref'd: it never keeps the process alive by itself.
 */
export class RepeatingTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private active = false;

  constructor(
    private readonly intervalMs: number,
    private readonly run: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (!this.active) return;
    this.timer = setTimeout(() => {
      this.running = this.run()
        .then(() => undefined, this.onError)
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }
}
