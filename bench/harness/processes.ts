/** The benchmark's child processes: started with their stderr kept, all stopped at the end. */
import { type ChildProcess, spawn } from 'node:child_process';

export class Processes {
  readonly #children: ChildProcess[] = [];
  #stopping = false;
  readonly #stderr = new Map<ChildProcess, string>();

  /** What an exited child wrote on stderr (its last 10–20 kB). */
  stderrOf(child: ChildProcess): string {
    return this.#stderr.get(child) ?? '';
  }

  /**
   * Starts `command`; an early exit is reported with its stderr and fails the run, unless
   * `optional` (the caller handles it: `stderrOf` gives what the process said).
   */
  start(
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    options: { readonly optional?: boolean } = {},
  ): ChildProcess {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    });
    child.once('exit', (code, signal) => {
      this.#stderr.set(child, stderr);
      if (!this.#stopping && options.optional !== true) {
        console.error(`${command} ${args.join(' ')} exited early (${code ?? signal}):\n${stderr}`);
        process.exitCode = 1;
      }
    });
    this.#children.push(child);
    return child;
  }

  /** SIGTERM to every child, SIGKILL after `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          console.error(
            `${child.spawnfile} (pid ${child.pid}) ignored SIGTERM for ${graceMs / 1000} s: SIGKILL`,
          );
          child.kill('SIGKILL');
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Stops everything on Ctrl-C / SIGTERM. */
  stopOnSignals(): void {
    const onSignal = () => {
      void this.stopAll().then(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
}
