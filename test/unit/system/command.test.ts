import { describe, expect, it } from 'vitest';
import { CommandError } from '../../../src/errors';
import { createCommandRunner } from '../../../src/system/command';

const runner = createCommandRunner();

describe('createCommandRunner', () => {
  it('passes arguments verbatim, without a shell', async () => {
    const result = await runner.run('echo', ['a; rm -rf /tmp/x', '$(id)', '*']);
    expect(result).toEqual({ exitCode: 0, stdout: 'a; rm -rf /tmp/x $(id) *\n', stderr: '' });
  });

  it('turns a bad exit code into CommandError with the status and the end of stderr', async () => {
    const err = await runner.run('ls', ['/no/such/path-k2h']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ command: 'ls', exitCode: 2, timedOut: false });
    expect((err as Error).message).toMatch(/ls \/no\/such\/path-k2h exited with status 2: .*No such file/);
  });

  it('accepts the exit codes it is told are fine', async () => {
    expect((await runner.run('sh', ['-c', 'exit 2'], { okExitCodes: [0, 2] })).exitCode).toBe(2);
  });

  it('reports a program that cannot be spawned', async () => {
    await expect(runner.run('/no/such/k2h-tool', [])).rejects.toMatchObject({ exitCode: null, message: /Could not run .*ENOENT/ });
  });

  it('kills a command that outlives its timeout', async () => {
    const err = await runner.run('sleep', ['30'], { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ timedOut: true, exitCode: null, message: /timed out after 100 ms/ });
  });

  it('kills a command when its abort signal fires, naming the reason', async () => {
    const controller = new AbortController();
    const run = runner.run('sleep', ['30'], { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('the agent is shutting down'));
    const err = await run;
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ timedOut: false, exitCode: null, message: 'sleep 30 was stopped: the agent is shutting down' });
  });

  it('runs in the C locale so tool output parses the same everywhere', async () => {
    expect((await runner.run('sh', ['-c', 'echo $LC_ALL'])).stdout).toBe('C\n');
  });
});
