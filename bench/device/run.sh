#!/bin/bash
# The device harness on a machine with nothing installed but bash, coreutils and dpkg: unpacks what
# scripts/pack-device.ts put next to this file (Node, dawn.node, onnxruntime-web's wasm, the Vulkan
# loader), points the Vulkan loader at the NVIDIA driver when there is one, and runs harness.mjs
# with this script's arguments. From the repository root: bash .device/run.sh [--size small|full] ...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
# Unpacked into a temporary folder, never next to this script: what a device call carries stays small.
# harness.mjs finds dawn.node in dist/linux-x64/ and onnxruntime-web's files in ort/ beside itself.
bin=$(mktemp -d)
mkdir -p "$bin/dist/linux-x64" "$bin/ort"
unxz_to "$here/node.xz" "$bin/node"
chmod +x "$bin/node"
unxz_to "$here/dist/linux-x64/dawn.node.xz" "$bin/dist/linux-x64/dawn.node"
cp "$here/harness.mjs" "$bin/"
cp "$here/ort/ort-wasm-simd-threaded.asyncify.mjs" "$bin/ort/"
unxz_to "$here/ort/ort-wasm-simd-threaded.asyncify.wasm.xz" "$bin/ort/ort-wasm-simd-threaded.asyncify.wasm"
# The Vulkan loader and glvnd, as the device tool's README says (the image may have neither).
for deb in "$here"/debs/*.deb; do dpkg -x "$deb" /; done
ldconfig
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_ICD_FILENAMES=$nvidia_icd VK_DRIVER_FILES=$nvidia_icd
  # Names the driver library and any library it lacks, should Dawn find no adapter.
  library=$(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' "$nvidia_icd")
  if [ -f "$library" ]; then resolved=$library; else resolved=$(ldconfig -p | sed -n "s|.*$library.* => ||p" | head -n 1); fi
  if [ -z "$resolved" ] && [ -f "/usr/local/nvidia/lib64/$library" ]; then
    export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    resolved=/usr/local/nvidia/lib64/$library
  fi
  echo "NVIDIA Vulkan driver: $library -> ${resolved:-not found by ldconfig}"
  if [ -n "$resolved" ]; then ldd "$resolved" | grep 'not found' || true; fi
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; fi
echo "node $("$bin/node" --version), Vulkan ICD ${VK_ICD_FILENAMES:-the loader default}"
exec "$bin/node" "$bin/harness.mjs" "$@"
