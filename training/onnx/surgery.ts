/**
 * Graph surgery: cuts a backbone at named tensors into segments `segment_i` (features_i →
 * features_{i+1}) that chain back to exactly the original outputs.
 *
 * A cut at tensor t is valid only where t alone carries everything downstream needs: no tensor
 * computed before t (nor the graph input) may be read after it. Cutting inside a residual block
 * fails, naming the node that reads across the cut (PTEENet attaches exits between blocks).
 *
 * @example
 * const segments = splitAt(model, ['stem.out', 'stage1.block1.out'], shapes);
 * segments.length; // 3
 */
import { GraphIndex } from './graph.js';
import { type Model, makeModel, type Node, OnnxError, opsetOf, type TensorProto, valueInfo } from './proto.js';

/** Per-tensor dims for batch 1 (from ./analyse.ts); batch becomes symbolic 'N' in segment I/O. */
export type ShapeMap = Map<string, number[]>;

/** Throws OnnxError if cutting at `t` (after the previous cut `prev`) is invalid. */
export function checkCut(g: GraphIndex, t: string, prev?: string): void {
  if (t === g.input) throw new OnnxError(`cannot cut at the graph input "${t}"`);
  if (!g.producer.has(t))
    throw new OnnxError(
      `cut tensor "${t}" is not produced by any node; tensors: ${[...g.producer.keys()].slice(0, 20).join(', ')}…`,
    );
  if (g.isConstant(t)) throw new OnnxError(`cut tensor "${t}" is a constant`);
  const before = g.ancestors(t);
  if (prev !== undefined && !tensorsRead(g, before).has(prev)) {
    throw new OnnxError(`cut "${t}" does not depend on the previous cut "${prev}" (cuts must be in graph order)`);
  }
  const producedBefore = new Set<string>([g.input]);
  for (const i of before) for (const o of g.nodes[i]!.output ?? []) if (o) producedBefore.add(o);
  for (let i = 0; i < g.nodes.length; i++) {
    if (before.has(i) || g.nodes[i]!.opType === 'Constant') continue;
    for (const inp of g.nodes[i]!.input ?? []) {
      if (inp && inp !== t && producedBefore.has(inp)) {
        throw new OnnxError(
          `cannot cut at "${t}": node "${g.nodeName(i)}" (${g.nodes[i]!.opType}) after the cut reads "${inp}", computed before it; cut where a single tensor carries everything (e.g. a block's output)`,
          g.nodeName(i),
        );
      }
    }
  }
  for (const o of g.outputs) {
    if (o !== t && producedBefore.has(o))
      throw new OnnxError(`cannot cut at "${t}": graph output "${o}" is computed before it`);
  }
}

function tensorsRead(g: GraphIndex, nodes: Set<number>): Set<string> {
  const out = new Set<string>();
  for (const i of nodes) for (const inp of g.nodes[i]!.input ?? []) if (inp) out.add(inp);
  return out;
}

/** Every tensor (in execution order) at which a single cut would be valid. */
export function validCuts(g: GraphIndex): string[] {
  const out: string[] = [];
  for (const i of g.topoOrder()) {
    for (const t of g.nodes[i]!.output ?? []) {
      if (!t || g.outputs.includes(t)) continue;
      try {
        checkCut(g, t);
        out.push(t);
      } catch {
        // not a cut point; keep scanning
      }
    }
  }
  return out;
}

function dimsFor(shapes: ShapeMap, t: string): (number | string)[] {
  const d = shapes.get(t);
  if (!d) throw new OnnxError(`no shape known for tensor "${t}"`);
  return ['N', ...d.slice(1)];
}

/** Builds one segment model from a set of nodes, reading `input` and writing `outputs`. */
function segmentModel(
  g: GraphIndex,
  name: string,
  nodeIdx: number[],
  input: string,
  outputs: string[],
  shapes: ShapeMap,
  opset: number,
): Model {
  const nodes: Node[] = [];
  const used = new Set<string>();
  const constants: Node[] = [];
  const produced = new Set<string>([input]);
  for (const i of nodeIdx) for (const o of g.nodes[i]!.output ?? []) if (o) produced.add(o);
  for (const i of nodeIdx) {
    const n = g.nodes[i]!;
    for (const inp of n.input ?? []) {
      if (!inp) continue;
      used.add(inp);
      if (produced.has(inp)) continue;
      const p = g.producer.get(inp);
      if (p !== undefined && g.nodes[p]!.opType === 'Constant') {
        if (!constants.includes(g.nodes[p]!)) constants.push(g.nodes[p]!);
        continue;
      }
      if (!g.initializers.has(inp)) {
        throw new OnnxError(
          `segment "${name}": node "${g.nodeName(i)}" reads "${inp}", which is neither the segment input, an initializer nor computed in the segment`,
          g.nodeName(i),
        );
      }
    }
    nodes.push(n);
  }
  const initializer: TensorProto[] = (g.graph.initializer ?? []).filter((t) => used.has(t.name!));
  return makeModel(
    {
      name,
      node: [...constants, ...nodes],
      initializer,
      input: [valueInfo(input, dimsFor(shapes, input))],
      output: outputs.map((o) => valueInfo(o, dimsFor(shapes, o))),
    },
    opset,
  );
}

/**
 * Splits the model at `cuts` (in graph order) into cuts.length + 1 segments. Segment i reads
 * cuts[i-1] (or the graph input) and writes cuts[i] (or the graph outputs).
 */
export function splitAt(model: Model, cuts: string[], shapes: ShapeMap): Model[] {
  const g = new GraphIndex(model);
  const opset = opsetOf(model);
  if (opset < 11 || opset > 21) throw new OnnxError(`opset ${opset} is outside the supported range 11-21`);
  cuts.forEach((c, i) => {
    checkCut(g, c, cuts[i - 1]);
  });
  const order = g.topoOrder();
  const assigned = new Set<number>();
  const segments: Model[] = [];
  const bounds = [g.input, ...cuts];
  for (let s = 0; s <= cuts.length; s++) {
    const outs = s < cuts.length ? [cuts[s]!] : g.outputs;
    const need = new Set<number>();
    for (const o of outs) for (const i of g.ancestors(o, bounds[s])) if (!assigned.has(i)) need.add(i);
    const idx = order.filter((i) => need.has(i));
    idx.forEach((i) => {
      assigned.add(i);
    });
    segments.push(segmentModel(g, `segment_${s}`, idx, bounds[s]!, outs, shapes, opset));
  }
  return segments;
}
