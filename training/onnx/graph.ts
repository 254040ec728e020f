/**
 * A read-only index over an ONNX graph: producers, consumers, initializers, topological order and
 * ancestor sets. Everything surgery and analysis need, computed once. The index accepts any op;
 * `checkOps` says whether surgery and the tfjs runner can handle them all, naming every node that
 * they cannot.
 *
 * @example
 * checkOps(model); // throws one OnnxError listing every unsupported node
 * const g = new GraphIndex(model);
 * g.ancestors('stage1.block1.out'); // Set of node indices needed to compute it
 */
import { type Graph, type Model, type Node, OnnxError } from './proto.js';

/** Ops graph surgery and the tfjs runner understand (default ONNX domain); `checkOps` rejects the rest by name. */
export const SUPPORTED_OPS = new Set([
  'Conv',
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Add',
  'Mul',
  'Sub',
  'Concat',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Flatten',
  'Reshape',
  'Gemm',
  'MatMul',
  'Identity',
  'Dropout',
  'Constant',
  'Softmax',
  // MobileNet-style activations and squeeze-excite (PyTorch's ReLU6 exports as Clip 0..6).
  'Clip',
  'HardSigmoid',
  'HardSwish',
  'Transpose',
  'ReduceMean',
  // The exit heads' confidence input (training/branches/export.ts).
  'LogSoftmax',
  'ReduceMax',
  'ReduceSum',
]);

function isSupported(n: Node): boolean {
  return SUPPORTED_OPS.has(n.opType!) && (!n.domain || n.domain === 'ai.onnx');
}

/**
 * Throws one OnnxError listing every node whose op surgery or the tfjs runner cannot handle,
 * grouped by op (and domain), then the supported ops. Run it after foldShapeComputations
 * (./fold.ts): Shape nodes still there are shape arithmetic the fold could not prove constant.
 */
export function checkOps(model: Model): void {
  const bad = new Map<string, string[]>();
  for (const n of model.graph?.node ?? []) {
    if (isSupported(n)) continue;
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.opType} (domain ${n.domain})` : n.opType!;
    bad.set(op, [...(bad.get(op) ?? []), `"${n.name || n.output?.[0]}"`]);
  }
  if (!bad.size) return;
  const count = [...bad.values()].reduce((a, names) => a + names.length, 0);
  const groups = [...bad].map(([op, names]) => `  ${op} × ${names.length}: ${names.join(', ')}`);
  if (bad.has('Shape'))
    groups.push('  (Shape nodes left are shape arithmetic that could not be folded into a constant Reshape)');
  const first = model.graph!.node!.find((n) => !isSupported(n))!;
  throw new OnnxError(
    `${count} node${count === 1 ? '' : 's'} use${count === 1 ? 's' : ''} ops that are not supported:\n${groups.join('\n')}\nsupported: ${[...SUPPORTED_OPS].join(', ')}`,
    first.name || first.output?.[0] || undefined,
  );
}

export class GraphIndex {
  readonly graph: Graph;
  readonly nodes: Node[];
  readonly producer = new Map<string, number>();
  readonly consumers = new Map<string, number[]>();
  readonly initializers = new Set<string>();
  readonly input: string;
  readonly outputs: string[];

  constructor(readonly model: Model) {
    const g = model.graph;
    if (!g) throw new OnnxError('model has no graph');
    this.graph = g;
    this.nodes = g.node ?? [];
    for (const t of g.initializer ?? []) this.initializers.add(t.name!);
    const inputs = (g.input ?? []).map((i) => i.name!).filter((n) => !this.initializers.has(n));
    if (inputs.length !== 1)
      throw new OnnxError(
        `expected exactly one graph input (besides initializers), found ${inputs.length}: ${inputs.join(', ')}`,
      );
    this.input = inputs[0]!;
    this.outputs = (g.output ?? []).map((o) => o.name!);
    this.nodes.forEach((n, i) => {
      for (const o of n.output ?? []) if (o) this.producer.set(o, i);
      for (const inp of n.input ?? []) {
        if (!inp) continue;
        const list = this.consumers.get(inp) ?? [];
        list.push(i);
        this.consumers.set(inp, list);
      }
    });
  }

  nodeName(i: number): string {
    const n = this.nodes[i]!;
    return n.name || `${n.opType}→${n.output?.[0]}`;
  }

  /** Is this tensor available without computing anything (initializer or Constant output)? */
  isConstant(t: string): boolean {
    if (this.initializers.has(t)) return true;
    const p = this.producer.get(t);
    return p !== undefined && this.nodes[p]!.opType === 'Constant';
  }

  /** Node indices needed to compute `t` from the graph input (Constant nodes excluded). */
  ancestors(t: string, stopAt?: string): Set<number> {
    const out = new Set<number>();
    const stack = [t];
    while (stack.length) {
      const cur = stack.pop()!;
      if (cur === stopAt) continue;
      const p = this.producer.get(cur);
      if (p === undefined || out.has(p) || this.nodes[p]!.opType === 'Constant') continue;
      out.add(p);
      for (const i of this.nodes[p]!.input ?? []) if (i) stack.push(i);
    }
    return out;
  }

  /** Node indices needed for the graph outputs, in a valid execution order (Kahn's algorithm). */
  topoOrder(): number[] {
    const needed = new Set<number>();
    for (const o of this.outputs) for (const i of this.ancestors(o)) needed.add(i);
    const indeg = new Map<number, number>();
    for (const i of needed) {
      const deps = new Set(
        (this.nodes[i]!.input ?? [])
          .map((t) => this.producer.get(t))
          .filter((p): p is number => p !== undefined && needed.has(p)),
      );
      indeg.set(i, deps.size);
    }
    const ready = [...needed].filter((i) => indeg.get(i) === 0).sort((a, b) => a - b);
    const order: number[] = [];
    while (ready.length) {
      const i = ready.shift()!;
      order.push(i);
      const next = new Set<number>();
      for (const o of this.nodes[i]!.output ?? [])
        for (const c of this.consumers.get(o) ?? []) if (needed.has(c)) next.add(c);
      for (const c of next) {
        indeg.set(c, indeg.get(c)! - 1);
        if (indeg.get(c) === 0) ready.push(c);
      }
      ready.sort((a, b) => a - b);
    }
    if (order.length !== needed.size) throw new OnnxError('graph has a cycle');
    return order;
  }
}
