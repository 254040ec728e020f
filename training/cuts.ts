/**
 * `npm run train -- cuts --backbone=model.onnx`: every tensor the backbone can be cut at (one tensor
 * carries everything downstream), in graph order, with the share of the backbone's MACs computed
 * before it, its per-sample feature shape and the bytes a forward of it would send (f32 / f16), and
 * which of them `attach` takes as candidate exits by default. The tensor names are what
 * `attach --cuts=a,b,…` accepts.
 *
 * @example
 * console.log(await runCuts('models/fashion-resnet/backbone.onnx'));
 */
import { readFileSync } from 'node:fs';
import { candidateCuts } from './attach.js';
import { ATTACH_DEFAULTS } from './config.js';
import { analyseBackbone } from './onnx/analyse.js';

export async function runCuts(
  backbone: string,
  opts: { maxCutFraction?: number; maxCandidates?: number } = {},
): Promise<string> {
  const a = await analyseBackbone(new Uint8Array(readFileSync(backbone)));
  const cands = new Set(
    candidateCuts(
      a.cuts,
      opts.maxCutFraction ?? ATTACH_DEFAULTS.maxCutFraction,
      opts.maxCandidates ?? ATTACH_DEFAULTS.maxCandidates,
    ).map((c) => c.tensor),
  );
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const rows = a.cuts.map((c) => {
    const per = c.shape.slice(1).reduce((x, y) => x * y, 1);
    return `| ${c.tensor} | ${(c.macFraction * 100).toFixed(1)} % | [${c.shape.slice(1).join(', ')}] | ${kib(per * 4)} / ${kib(per * 2)} | ${cands.has(c.tensor) ? 'yes' : ''} |`;
  });
  return [
    `${backbone}: ${(a.totalMacs / 1e6).toFixed(2)} M MACs, ${a.totalParams} params, input "${a.input}" [${a.inputShape.slice(1).join(', ')}]; ${a.cuts.length} valid cuts`,
    '',
    '| cut tensor | MACs before it | features per sample | bytes per sample f32 / f16 | default candidate |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Default candidates: 4-D cuts with MACs before them in (0, ${(ATTACH_DEFAULTS.maxCutFraction * 100).toFixed(0)} %], one per distinct MAC count (the later, post-activation tensor), at most ${ATTACH_DEFAULTS.maxCandidates}. Pick others with attach --cuts=<tensor>,<tensor>.`,
  ].join('\n');
}
