#!/usr/bin/env bash
# The GPU-machine half of `npm run bench:backend:device` (copied to .device/run.sh by the packer).
# Unpacks the carried Node, app bundles, node_modules and model into /tmp, installs the Vulkan loader
# from the carried .deb, points it at the NVIDIA ICD, and runs the backend benchmark (webgpu and cpu
# executors, 1/64/256 clients, batches up to 4096), then the webgpu executor shared by all server
# processes (SHARED=0 skips that) and the JSEP build of onnxruntime-web (JSEP=0 skips that), with
# results copied into $OUT.
#
#   bash .device/run.sh [extra bench options, e.g. --seconds=4]
#   RUN_LOCAL=1 OUT=/tmp/out bash .device/run.sh --seconds=1   # rehearsal: lavapipe, no dpkg/ICD
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${WORK:-/tmp/edge-cascade-device}
OUT=${OUT:?OUT must name the results folder}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1

unxz_cat() {  # xz may be missing on a bare machine; Python's lzma is not
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

t0=$(date +%s)
rm -rf "$W" && mkdir -p "$W"
unxz_cat "$HERE/node.xz" > "$W/node" && chmod +x "$W/node"
unxz_cat "$HERE/app.tar.xz" | tar -C "$W" -xf -
echo "[run] unpacked in $(( $(date +%s) - t0 )) s: $("$W/node" -v), $(du -sh "$W" | cut -f1)"

if [[ ${RUN_LOCAL:-0} != 1 ]]; then
  # The Vulkan loader and libglvnd (the NVIDIA ICD, libGLX_nvidia.so.0, needs libGLdispatch).
  for f in "$HERE"/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  nvidia-smi -L
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
fi
ldconfig -p | grep 'libvulkan\.so\.1' || echo "[run] warning: no libvulkan.so.1 in the linker cache"
echo "[run] $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

cd "$W/app"
# Only the carried node: nothing else from the machine's PATH is needed.
"$W/node" bench/backend.mjs --model=model --executors="${EXECUTORS:-webgpu,cpu}" \
  --levels=1,64,256 --batches=1,64,256,1024,4096 --max-batch=256 \
  --out="$OUT" --name=backend-device "$@"
echo "[run] per-process executors done in $(( $(date +%s) - t0 )) s"
if [[ ${SHARED:-1} == 1 ]]; then
  # Then one executor in the cluster's primary, fed by every server process, which merges the batches
  # that wait for it (gpu-backend/src/coalesce.ts): webgpu, and cpu (whose batch-64 calls ran 13.7×
  # the samples/s of batch-1 calls on this host). SHARED=0 skips it.
  "$W/node" bench/backend.mjs --model=model --executors=webgpu,cpu --shared-executor=1 \
    --levels=64,256 --batches=256 --max-batch=256 --free-executor=0 \
    --out="$OUT" --name=backend-device-shared "$@"
fi
if [[ ${JSEP:-1} == 1 ]]; then
  # And the JSEP build of onnxruntime-web (WEBGPU_BUILD=jsep), faster in docs/gpu-webgpu.md's
  # probe. JSEP=0 skips it.
  "$W/node" bench/backend.mjs --model=model --executors=webgpu --webgpu-build=jsep \
    --levels=256 --batches=1,256,4096 --max-batch=256 --free-executor=0 \
    --out="$OUT" --name=backend-device-webgpu-jsep "$@"
fi
echo "[run] done in $(( $(date +%s) - t0 )) s"
