/**
 * A read-only index over an ONNX graph: producers, consumers, initializers, topological order and
 * ancestor sets. Everything surgery and analysis need, computed once.
 *
 * @example
 * const g = new GraphIndex(readOnnx(bytes));
 * g.ancestors('stage1.block1.out'); // Set of node indices needed to compute it
 */
import { OnnxError, type Graph, type Model, type Node } from './proto.js';

/** Ops graph surgery and the tfjs runner understand; anything else is rejected by name. */
export const SUPPORTED_OPS = new Set([
  'Conv', 'BatchNormalization', 'Relu', 'LeakyRelu', 'Sigmoid', 'Add', 'Mul', 'Sub', 'Concat', 'MaxPool', 'AveragePool',
  'GlobalAveragePool', 'GlobalMaxPool', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Identity', 'Dropout', 'Constant', 'Softmax',
  // The exit heads' confidence input (training/branches/export.ts).
  'LogSoftmax', 'ReduceMax', 'ReduceSum',
]);

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
    if (inputs.length !== 1) throw new OnnxError(`expected exactly one graph input (besides initializers), found ${inputs.length}: ${inputs.join(', ')}`);
    this.input = inputs[0]!;
    this.outputs = (g.output ?? []).map((o) => o.name!);
    this.nodes.forEach((n, i) => {
      if (!SUPPORTED_OPS.has(n.opType!) || (n.domain && n.domain !== 'ai.onnx')) {
        throw new OnnxError(`node "${n.name || n.output?.[0]}" has op ${n.domain ? n.domain + '.' : ''}${n.opType}, which is not supported; supported: ${[...SUPPORTED_OPS].join(', ')}`, n.name ?? undefined);
      }
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
      const deps = new Set((this.nodes[i]!.input ?? []).map((t) => this.producer.get(t)).filter((p): p is number => p !== undefined && needed.has(p)));
      indeg.set(i, deps.size);
    }
    const ready = [...needed].filter((i) => indeg.get(i) === 0).sort((a, b) => a - b);
    const order: number[] = [];
    while (ready.length) {
      const i = ready.shift()!;
      order.push(i);
      const next = new Set<number>();
      for (const o of this.nodes[i]!.output ?? []) for (const c of this.consumers.get(o) ?? []) if (needed.has(c)) next.add(c);
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
