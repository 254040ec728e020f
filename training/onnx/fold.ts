/**
 * Folds PyTorch's shape arithmetic into constants. `x.view(x.size(0), -1)` and `torch.flatten`
 * export as Shape → Gather → Unsqueeze → Concat (with a constant) → Reshape, with Slice, Cast,
 * Squeeze, Constant and Mul/Add/Sub variants, and with Unsqueeze/Squeeze axes as attributes (before
 * opset 13) or inputs. Surgery and the tfjs runner support none of those ops, so the shape subgraph
 * is evaluated symbolically (each int element a known number or "the batch dim"), each Reshape it
 * feeds is rewritten to read a constant initializer, and the shape nodes left dead are removed.
 *
 * The batch becomes 0 ("copy input dim 0") at position 0 of the target shape, otherwise -1 when it
 * is the only unknown; both need the Reshape's input to carry the batch as its dim 0. Shapes come
 * from inferShapes (./analyse.ts: one onnxruntime run at batch 1), where dim 0 of every tensor
 * computed from the graph input is the batch. Whatever cannot be proven stays as it was, for
 * checkOps (./graph.ts) to report.
 *
 * @example
 * const { shapes } = await inferShapes(model);
 * const folded = foldShapeComputations(model, shapes); // Reshape(x, [0, -1]), no Shape nodes
 */
import { GraphIndex } from './graph.js';
import {
  attr,
  attrInt,
  attrInts,
  DT,
  dimsOf,
  initializerValues,
  int64Tensor,
  type Model,
  type Node,
  type TensorProto,
} from './proto.js';
import type { ShapeMap } from './surgery.js';

const BATCH = 'batch';
type Elem = number | typeof BATCH;
/** A small int tensor whose elements are known numbers or the batch dim. */
interface Sym {
  dims: number[];
  data: Elem[];
}

const INT_TYPES = new Set<number>([DT.INT64, DT.INT32]);

function intConstant(t: TensorProto): Sym | undefined {
  const dims = dimsOf(t);
  if (!INT_TYPES.has(t.dataType ?? 0) || dims.length > 1) return undefined;
  return { dims, data: Array.from(initializerValues(t)) };
}

/** A Constant node's value: a `value` tensor, or the `value_int(s)` attributes (opset 12+). */
function constantValue(n: Node): Sym | undefined {
  const t = attr(n, 'value')?.t;
  if (t) return intConstant(t);
  const ints = attr(n, 'value_ints');
  if (ints) return { dims: [ints.ints?.length ?? 0], data: attrInts(n, 'value_ints', []) };
  return attr(n, 'value_int') ? { dims: [], data: [attrInt(n, 'value_int', 0)] } : undefined;
}

/** Does `t` depend on the graph input (so its dim 0 is the batch)? */
function fromInput(g: GraphIndex, t: string): boolean {
  return t === g.input || [...g.ancestors(t)].some((i) => g.nodes[i]!.input?.includes(g.input));
}

/** Shape(x), with opset 15's start/end; dim 0 of a tensor computed from the input is the batch. */
function shapeOf(g: GraphIndex, shapes: ShapeMap, n: Node): Sym | undefined {
  const x = n.input![0]!;
  const init = g.graph.initializer?.find((t) => t.name === x);
  const d = init ? dimsOf(init) : shapes.get(x);
  if (!d) return undefined;
  const batched = !init && fromInput(g, x);
  if (batched && d[0] !== 1) return undefined;
  const r = d.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(attrInt(n, 'start', 0)),
    end = clampAxis(attrInt(n, 'end', r));
  const data: Elem[] = d.map((v, i) => (i === 0 && batched ? BATCH : v)).slice(start, Math.max(start, end));
  return { dims: [data.length], data };
}

const numbers = (s: Sym | undefined): number[] | undefined =>
  s?.data.every((e) => typeof e === 'number') ? (s.data as number[]) : undefined;

/** Axes from the attribute (before opset 13) or the second input (from 13). */
function axesOf(n: Node, ins: (Sym | undefined)[]): number[] | undefined {
  if (attr(n, 'axes')) return attrInts(n, 'axes', []);
  return n.input?.[1] ? numbers(ins[1]) : [];
}

function gather(n: Node, [data, idx]: (Sym | undefined)[]): Sym | undefined {
  const axis = attrInt(n, 'axis', 0);
  const at = numbers(idx);
  if (!data || !at || data.dims.length !== 1 || (axis !== 0 && axis !== -1)) return undefined;
  const len = data.data.length;
  const picked = at.map((i) => data.data[i < 0 ? i + len : i]);
  return picked.every((e) => e !== undefined) ? { dims: idx!.dims, data: picked as Elem[] } : undefined;
}

/** Slice of a 1-D tensor: starts/ends/axes as attributes (before opset 10) or inputs, with steps. */
function slice(n: Node, ins: (Sym | undefined)[]): Sym | undefined {
  const data = ins[0];
  const fromAttrs = !!attr(n, 'starts');
  const arg = (k: number, name: string, dflt: number[]) =>
    fromAttrs ? attrInts(n, name, dflt) : n.input?.[k] ? numbers(ins[k]) : dflt;
  const [starts, ends, axes, steps] = [
    arg(1, 'starts', []),
    arg(2, 'ends', []),
    arg(3, 'axes', [0]),
    fromAttrs ? [1] : arg(4, 'steps', [1]),
  ];
  if (data?.dims.length !== 1 || !starts || !ends || !axes || !steps || starts.length !== 1 || ends.length !== 1)
    return undefined;
  if ((axes[0] !== 0 && axes[0] !== -1) || !steps[0]) return undefined;
  const len = data.data.length,
    step = steps[0];
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + len : v, lo), hi);
  const start = step > 0 ? clamp(starts[0]!, 0, len) : clamp(starts[0]!, 0, len - 1);
  const end = step > 0 ? clamp(ends[0]!, 0, len) : clamp(ends[0]!, -1, len - 1);
  const out: Elem[] = [];
  for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(data.data[i]!);
  return { dims: [out.length], data: out };
}

function unsqueeze(n: Node, ins: (Sym | undefined)[]): Sym | undefined {
  const axes = axesOf(n, ins),
    x = ins[0];
  if (!x || !axes) return undefined;
  const r = x.dims.length + axes.length;
  const at = new Set(axes.map((a) => (a < 0 ? a + r : a)));
  const dims: number[] = [];
  for (let i = 0, k = 0; i < r; i++) dims.push(at.has(i) ? 1 : x.dims[k++]!);
  return { dims, data: x.data };
}

function squeeze(n: Node, ins: (Sym | undefined)[]): Sym | undefined {
  const axes = axesOf(n, ins),
    x = ins[0];
  if (!x || !axes) return undefined;
  const at = new Set(axes.map((a) => (a < 0 ? a + x.dims.length : a)));
  const drop = (d: number, i: number) => (at.size ? at.has(i) : d === 1);
  if (x.dims.some((d, i) => drop(d, i) && d !== 1)) return undefined;
  return { dims: x.dims.filter((d, i) => !drop(d, i)), data: x.data };
}

function concat(n: Node, ins: (Sym | undefined)[]): Sym | undefined {
  const axis = attrInt(n, 'axis', 0);
  if ((axis !== 0 && axis !== -1) || ins.some((s) => s?.dims.length !== 1)) return undefined;
  const data = ins.flatMap((s) => s!.data);
  return { dims: [data.length], data };
}

function cast(n: Node, [x]: (Sym | undefined)[]): Sym | undefined {
  if (!x) return undefined;
  const toInt = INT_TYPES.has(attrInt(n, 'to', 0));
  return { dims: x.dims, data: x.data.map((e) => (toInt && typeof e === 'number' ? Math.trunc(e) : e)) };
}

/** Element-wise arithmetic on known numbers (e.g. x.size(1) * x.size(2)); the batch makes it unknown. */
function arith(f: (a: number, b: number) => number) {
  return (_n: Node, [a, b]: (Sym | undefined)[]): Sym | undefined => {
    const [x, y] = [numbers(a), numbers(b)];
    if (
      !x ||
      !y ||
      a!.dims.length > 1 ||
      b!.dims.length > 1 ||
      (x.length !== y.length && x.length !== 1 && y.length !== 1)
    )
      return undefined;
    const len = Math.max(x.length, y.length);
    const data = Array.from({ length: len }, (_, i) => f(x[x.length === 1 ? 0 : i]!, y[y.length === 1 ? 0 : i]!));
    return { dims: Math.max(a!.dims.length, b!.dims.length) ? [len] : [], data };
  };
}

const SYM_OPS: Record<string, (n: Node, ins: (Sym | undefined)[]) => Sym | undefined> = {
  Gather: gather,
  Slice: slice,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Concat: concat,
  Cast: cast,
  Identity: (_n, [x]) => x,
  Add: arith((a, b) => a + b),
  Sub: arith((a, b) => a - b),
  Mul: arith((a, b) => a * b),
};

/** Symbolic values of every int tensor that can be computed without the activations' contents. */
function evaluate(g: GraphIndex, shapes: ShapeMap): Map<string, Sym> {
  const syms = new Map<string, Sym>();
  const put = (t: string, s: Sym | undefined) => {
    if (s) syms.set(t, s);
  };
  for (const t of g.graph.initializer ?? []) put(t.name!, intConstant(t));
  for (const n of g.nodes) if (n.opType === 'Constant') put(n.output![0]!, constantValue(n));
  for (const i of g.topoOrder()) {
    const n = g.nodes[i]!;
    if (n.opType === 'Shape') {
      put(n.output![0]!, shapeOf(g, shapes, n));
      continue;
    }
    const f = SYM_OPS[n.opType!];
    if (!f || (n.domain && n.domain !== 'ai.onnx')) continue;
    const ins = (n.input ?? []).map((t) => (t ? syms.get(t) : undefined));
    // Every present input must be symbolic: float activations never are.
    if ((n.input ?? []).some((t, k) => t && !ins[k])) continue;
    put(n.output![0]!, f(n, ins));
  }
  return syms;
}

/** The constant target shape for a Reshape whose shape input evaluated to `data`, if provable. */
function reshapeTarget(g: GraphIndex, shapes: ShapeMap, n: Node, data: Elem[]): number[] | undefined {
  const x = n.input![0]!;
  const batched = shapes.get(x)?.[0] === 1 && fromInput(g, x);
  if (!batched) return data.every((e) => e !== BATCH) ? (data as number[]) : undefined;
  const copyDim0 = attrInt(n, 'allowzero', 0) === 0;
  const out = data.map((e, i) => (e === BATCH && i === 0 && copyDim0 ? 0 : e));
  const unknown = out.filter((e) => e === BATCH).length;
  if (unknown === 0) return out as number[];
  return unknown === 1 && !out.includes(-1) ? out.map((e) => (e === BATCH ? -1 : e)) : undefined;
}

/** Removes, until none is left, candidate nodes none of whose outputs is read or a graph output. */
function liveNodes(nodes: Node[], candidates: Set<Node>, outputs: string[]): Node[] {
  let live = nodes;
  for (;;) {
    const read = new Set([...outputs, ...live.flatMap((n) => n.input ?? [])]);
    const next = live.filter((n) => !candidates.has(n) || (n.output ?? []).some((o) => o && read.has(o)));
    if (next.length === live.length) return live;
    live = next;
  }
}

export function foldShapeComputations(model: Model, shapes: ShapeMap): Model {
  const g = new GraphIndex(model);
  const syms = evaluate(g, shapes);
  const taken = new Set([...g.producer.keys(), ...g.initializers, g.input]);
  const added: TensorProto[] = [];
  const nodes = g.nodes.map((n) => {
    const s = n.opType === 'Reshape' && !g.isConstant(n.input![1]!) ? syms.get(n.input![1]!) : undefined;
    const target = s && reshapeTarget(g, shapes, n, s.data);
    if (!target) return n;
    let name = `${n.input![1]}_folded`;
    while (taken.has(name)) name += '_';
    taken.add(name);
    added.push(int64Tensor(name, target));
    return { ...n, input: [n.input![0]!, name] };
  });
  if (!added.length) return model;
  const candidates = new Set(nodes.filter((n) => n.opType === 'Shape' || (n.output ?? []).some((o) => syms.has(o))));
  const live = liveNodes(nodes, candidates, g.outputs);
  const read = new Set([...g.outputs, ...live.flatMap((n) => n.input ?? [])]);
  const readBefore = new Set(g.nodes.flatMap((n) => n.input ?? []));
  const stale = (name: string) => readBefore.has(name) && !read.has(name);
  const present = new Set([...read, ...live.flatMap((n) => n.output ?? [])]);
  return {
    ...model,
    graph: {
      ...g.graph,
      node: live,
      initializer: [...(g.graph.initializer ?? []).filter((t) => !stale(t.name!)), ...added],
      input: (g.graph.input ?? []).filter((i) => !(g.initializers.has(i.name!) && stale(i.name!))),
      valueInfo: (g.graph.valueInfo ?? []).filter((v) => present.has(v.name!)),
    },
  };
}
