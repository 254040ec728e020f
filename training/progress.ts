/**
 * Progress reporting for long steps: a live bar on a terminal, periodic plain lines otherwise
 * (background runs, CI logs), and a JSON-lines log file when `logFile` is given.
 *
 * @example
 * const p = new Progress('epoch 1/12', total, { logFile: 'out/train-log.jsonl' });
 * p.update(done, { loss: 0.41, 'samples/s': 130 });
 * p.stop({ valAcc: 0.9 });
 */
import { appendFileSync } from 'node:fs';
import cliProgress from 'cli-progress';

export type Fields = Record<string, number | string>;

function fmt(fields: Fields): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)) : v}`)
    .join(' | ');
}

export class Progress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly start = performance.now();
  private lastLine = 0;
  private fields: Fields = {};

  constructor(
    private readonly title: string,
    private readonly total: number,
    private readonly opts: { logFile?: string; quiet?: boolean } = {},
  ) {
    if (process.stderr.isTTY && !opts.quiet) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${title} [{bar}] {percentage}% | {value}/{total} | {fields} | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { fields: '' });
    }
  }

  update(done: number, fields: Fields = {}): void {
    this.fields = fields;
    if (this.bar) {
      this.bar.update(done, { fields: fmt(fields) });
      return;
    }
    // Without a terminal: one line per ~10 % so background logs stay readable.
    const tenth = Math.floor((done / this.total) * 10);
    if (tenth > this.lastLine && !this.opts.quiet) {
      this.lastLine = tenth;
      const elapsed = (performance.now() - this.start) / 1000;
      const eta = done > 0 ? (elapsed * (this.total - done)) / done : 0;
      console.error(
        `${this.title} ${done}/${this.total} | ${fmt(fields)} | elapsed ${elapsed.toFixed(0)}s | ETA ${eta.toFixed(0)}s`,
      );
    }
  }

  stop(summary: Fields = {}): void {
    this.bar?.stop();
    const seconds = (performance.now() - this.start) / 1000;
    const all = { ...this.fields, ...summary, seconds: Number(seconds.toFixed(1)) };
    if (!this.opts.quiet) console.error(`${this.title} done | ${fmt(all)}`);
    if (this.opts.logFile)
      appendFileSync(
        this.opts.logFile,
        `${JSON.stringify({ step: this.title, time: new Date().toISOString(), ...all })}\n`,
      );
  }
}
