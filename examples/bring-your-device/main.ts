// Bring your own device: an engine that already holds a GPUDevice hands it to the cache.
import { createKvCache, PRESETS } from "kvcompress";

export async function attachToEngine(device: GPUDevice) {
  return createKvCache({
    ...PRESETS["smollm2-135m"], capacityTokens: 8192, storage: "f16",
    policy: { name: "kvcompress", ratio: 8 },
  }, { device });
}
