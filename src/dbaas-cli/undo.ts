import type { Context } from './context';
import { CliError } from './errors';

/**
 * What a command has made so far, to be removed (newest first) when a later step fails. The
 * error then says which step failed, what was removed, and what could not be (so the user
 * knows exactly what is left), keeping the failed step's exit code.
 */
export class Undo {
  private readonly steps: { what: string; run: () => Promise<void> }[] = [];

  constructor(private readonly ctx: Pick<Context, 'progress'>) {}

  /** Records a step to undo; `what` names it in the error ("server c1-server-2"). */
  push(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  /** Runs `body`; on failure undoes every recorded step, newest first, and throws the combined CliError. */
  async run(operation: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      const removed: string[] = [];
      const left: string[] = [];
      for (const step of [...this.steps].reverse()) {
        try {
          this.ctx.progress(`removing ${step.what}`);
          await step.run();
          removed.push(step.what);
        } catch (undoError) {
          left.push(`${step.what} (${(undoError as Error).message})`);
        }
      }
      this.steps.length = 0;
      const cause = error instanceof Error ? error.message : String(error);
      const parts = [`${operation} failed: ${cause}`];
      if (removed.length > 0) parts.push(`removed what it had made: ${removed.join(', ')}`);
      else parts.push('it had made nothing');
      if (left.length > 0) parts.push(`COULD NOT REMOVE: ${left.join('; ')}`);
      throw new CliError(error instanceof CliError ? error.kind : 'service', parts.join('; '), { cause: error });
    }
  }
}
