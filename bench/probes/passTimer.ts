// bench/probes/passTimer.ts — GPU time of compute passes by label, for benches. While `on`, every
// beginComputePass on the device's encoders without timestampWrites of its own gets a begin/end
// timestamp pair and the label current when it began; take() resolves them all in one command
// buffer of its own (timestamps stay in the query set until resolved) and returns ms per label.
// Needs the device's "timestamp-query"; null without it. Patches GPUCommandEncoder globally:
// bench only, one timer per process.

export interface PassTimer {
  on: boolean;
  label: string;
  /** ms per label summed over the passes timed since the last take(), and their count. */
  take(): Promise<{ ms: Map<string, number>; passes: number }>;
}

export function installPassTimer(device: GPUDevice, maxPasses = 2048): PassTimer | null {
  if (!device.features.has("timestamp-query")) return null;
  const qs = device.createQuerySet({ type: "timestamp", count: 2 * maxPasses });
  const bytes = 16 * maxPasses;
  const resolve = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const labels: string[] = [];
  const timer: PassTimer = {
    on: false,
    label: "",
    async take() {
      const n = labels.length;
      const ms = new Map<string, number>();
      if (n === 0) return { ms, passes: 0 };
      const enc = device.createCommandEncoder({ label: "pass-timer-resolve" });
      enc.resolveQuerySet(qs, 0, 2 * n, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, 16 * n);
      const t = new BigUint64Array(read.getMappedRange(0, 16 * n).slice(0));
      read.unmap();
      for (let i = 0; i < n; i++) {
        const d = t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 : 0;
        ms.set(labels[i]!, (ms.get(labels[i]!) ?? 0) + d);
      }
      labels.length = 0;
      return { ms, passes: n };
    },
  };
  const proto = (globalThis as unknown as { GPUCommandEncoder: { prototype: GPUCommandEncoder } }).GPUCommandEncoder.prototype;
  const begin = proto.beginComputePass;
  proto.beginComputePass = function (this: GPUCommandEncoder, desc?: GPUComputePassDescriptor) {
    if (timer.on && labels.length < maxPasses && !desc?.timestampWrites) {
      const slot = labels.length;
      labels.push(timer.label);
      desc = { ...desc, timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 } };
    }
    return begin.call(this, desc);
  };
  return timer;
}
