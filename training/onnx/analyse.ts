/**
 * Static facts about a backbone: every tensor's shape (read off one onnxruntime run with all
 * intermediates exposed, so it works for any exporter's graph without our own shape inference),
 * MACs per node, and the cumulative MAC fraction at every valid cut point. The shapes also fold the
 * exporter's shape arithmetic into constants (./fold.ts); the folded graph must then use only
 * supported ops (checkOps, ./graph.ts), and it is the model analysed and returned for surgery.
 *
 * MACs count multiply-accumulates of Conv, Gemm and MatMul per sample (the usual convention;
 * element-wise ops, pooling and BatchNormalization are not counted).
 *
 * @example
 * const a = await analyseBackbone(bytes);
 * a.cuts; // [{ tensor: 'stem.out', macFraction: 0.012, shape: [1, 16, 28, 28] }, …]
 */
import * as ort from 'onnxruntime-node';
import { foldShapeComputations } from './fold.js';
import { checkOps, GraphIndex } from './graph.js';
import { attrInt, dimsOf, type Model, num, OnnxError, readOnnx, valueInfoDims, writeOnnx } from './proto.js';
import { type ShapeMap, validCuts } from './surgery.js';

export interface CutPoint {
  tensor: string;
  macs: number;
  macFraction: number;
  shape: number[];
}

export interface BackboneAnalysis {
  model: Model;
  input: string;
  inputShape: number[];
  outputs: string[];
  shapes: ShapeMap;
  totalMacs: number;
  totalParams: number;
  nodeMacs: number[];
  cuts: CutPoint[];
}

function prod(d: number[]): number {
  return d.reduce((a, b) => a * b, 1);
}

async function runProbe(
  probe: Uint8Array,
  feeds: ort.InferenceSession.FeedsType,
): Promise<ort.InferenceSession.ReturnType> {
  try {
    const session = await ort.InferenceSession.create(probe, { graphOptimizationLevel: 'disabled' });
    try {
      return await session.run(feeds);
    } finally {
      await session.release();
    }
  } catch (cause) {
    throw new OnnxError(
      `onnxruntime cannot run the backbone, which shape inference needs: ${(cause as Error).message}`,
    );
  }
}

/** Shapes of every tensor at batch 1, from onnxruntime (so any op it runs is fine here). */
export async function inferShapes(model: Model): Promise<{ shapes: ShapeMap; inputShape: number[] }> {
  const g = new GraphIndex(model);
  const inputInfo = g.graph.input!.find((i) => i.name === g.input)!;
  const inputShape = valueInfoDims(inputInfo).map((d, i) => (d > 0 ? d : i === 0 ? 1 : NaN));
  if (inputShape.some((d) => !Number.isFinite(d)))
    throw new Error(`input "${g.input}" has symbolic dims other than the batch: [${valueInfoDims(inputInfo)}]`);
  const all = [...g.producer.keys()];
  // Expose every intermediate as an output (types omitted: onnxruntime infers them).
  const probe = writeOnnx({ ...model, graph: { ...g.graph, output: all.map((name) => ({ name })) } });
  const feeds = { [g.input]: new ort.Tensor('float32', new Float32Array(prod(inputShape)), inputShape) };
  const out = await runProbe(probe, feeds);
  const shapes: ShapeMap = new Map([[g.input, inputShape]]);
  for (const name of all) if (out[name]) shapes.set(name, out[name]!.dims.map(Number));
  return { shapes, inputShape };
}

export function nodeMacs(g: GraphIndex, shapes: ShapeMap): number[] {
  const initDims = new Map((g.graph.initializer ?? []).map((t) => [t.name!, dimsOf(t)]));
  const dims = (t: string) => shapes.get(t) ?? initDims.get(t) ?? [];
  return g.nodes.map((n) => {
    const out = dims(n.output![0]!);
    switch (n.opType) {
      case 'Conv': {
        const w = dims(n.input![1]!);
        // out elements × (Cin/group × kh × kw); w is [Cout, Cin/group, kh, kw] (depthwise: Cin/group = 1).
        return prod(out) * prod(w.slice(1));
      }
      case 'Gemm': {
        const a = dims(n.input![0]!);
        const k = attrInt(n, 'transA', 0) ? a[0]! : a[a.length - 1]!;
        return prod(out) * k;
      }
      case 'MatMul': {
        const a = dims(n.input![0]!);
        return prod(out) * a[a.length - 1]!;
      }
      default:
        return 0;
    }
  });
}

/** readOnnx → inferShapes (on the graph as exported) → foldShapeComputations → checkOps → MACs and cuts. */
export async function analyseBackbone(bytes: Uint8Array): Promise<BackboneAnalysis> {
  const exported = readOnnx(bytes);
  const { shapes, inputShape } = await inferShapes(exported);
  const model = foldShapeComputations(exported, shapes);
  checkOps(model);
  const g = new GraphIndex(model);
  const macs = nodeMacs(g, shapes);
  const totalMacs = macs.reduce((a, b) => a + b, 0);
  const totalParams = (g.graph.initializer ?? []).reduce((a, t) => a + prod(dimsOf(t)), 0);
  const cuts: CutPoint[] = validCuts(g)
    .filter((t) => (shapes.get(t)?.length ?? 0) === 4)
    .map((t) => {
      const m = [...g.ancestors(t)].reduce((a, i) => a + macs[i]!, 0);
      return { tensor: t, macs: m, macFraction: totalMacs ? m / totalMacs : 0, shape: shapes.get(t)! };
    });
  return {
    model,
    input: g.input,
    inputShape,
    outputs: g.outputs,
    shapes,
    totalMacs,
    totalParams,
    nodeMacs: macs,
    cuts,
  };
}

/**
 * Picks one cut per target MAC fraction: the closest valid cut, later ones preferred on ties
 * (post-activation), each strictly after the previous pick.
 */
export function chooseCuts(cuts: CutPoint[], fractions: number[]): CutPoint[] {
  const picked: CutPoint[] = [];
  let from = 0;
  for (const f of fractions) {
    let best = -1;
    for (let i = from; i < cuts.length; i++) {
      if (picked.length && cuts[i]!.macs <= picked[picked.length - 1]!.macs) continue;
      if (best < 0 || Math.abs(cuts[i]!.macFraction - f) <= Math.abs(cuts[best]!.macFraction - f)) best = i;
    }
    if (best < 0) break;
    picked.push(cuts[best]!);
    from = best + 1;
  }
  return picked;
}

export { num };
