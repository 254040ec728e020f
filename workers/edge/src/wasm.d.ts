// wrangler module rules: *.wasm → CompiledWasm (WebAssembly.Module), *.onnx → Data (ArrayBuffer).
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module '*.onnx' {
  const data: ArrayBuffer;
  export default data;
}
