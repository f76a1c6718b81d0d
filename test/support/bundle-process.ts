import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';

/** A bundled handler loaded in a child Node.js process with the given environment only. */
export interface BundleProcess {
  invoke(event: unknown): Promise<any>;
  /** Everything the handler wrote to stdout so far (log lines, EMF). */
  stdout(): string;
  stop(): Promise<void>;
}

export async function startBundle(bundlePath: string, env: Record<string, string>): Promise<BundleProcess> {
  const child: ChildProcess = fork(path.join(__dirname, 'bundle-runner.js'), [bundlePath], {
    env: { PATH: process.env.PATH ?? '', ...env },
    silent: true,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { err += String(d); });
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bundle process exited with ${code}: ${err.slice(-1000)}`)));
    child.on('message', (m: any) => {
      if (m.ready) return resolve();
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    });
  });
  return {
    invoke: (event) => new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      child.send({ id, event });
    }),
    stdout: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    },
  };
}
