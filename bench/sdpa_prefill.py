# bench/sdpa_prefill.py — PyTorch scaled_dot_product_attention prefill on the shapes of
# bench/prefill.bench.ts: one prompt of 2K / 8K / 32K tokens, 32 query / 8 KV heads, d = 128,
# fp16, is_causal=True (contiguous K/V, not paged), timed with CUDA events (median).
import json, sys, torch
import torch.nn.functional as F

def bench(P, iters):
    q = torch.randn(1, 32, P, 128, device="cuda", dtype=torch.float16)
    k = torch.randn(1, 8, P, 128, device="cuda", dtype=torch.float16)
    v = torch.randn(1, 8, P, 128, device="cuda", dtype=torch.float16)
    try:
        f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        f()
        mode = "enable_gqa"
    except TypeError:
        kk, vv = k.repeat_interleave(4, dim=1), v.repeat_interleave(4, dim=1)
        f = lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
        mode = "repeated-kv"
    for _ in range(3): f()
    times = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); f(); e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    ms = times[len(times) // 2]
    flops = 4 * 128 * 32 * P * (P + 1) / 2
    del q, k, v
    torch.cuda.empty_cache()
    return {"promptTokens": P, "ms": ms, "tflops": flops / (ms * 1e9), "mode": mode}

rows = [bench(P, it) for P, it in ((2048, 50), (8192, 30), (32768, 10))]
print("torch", torch.__version__, torch.cuda.get_device_name())
for r in rows: print(f"sdpa P={r['promptTokens']}: {r['ms']:.3f} ms, {r['tflops']:.1f} TFLOP/s ({r['mode']})")
if len(sys.argv) > 1: json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, open(sys.argv[1], "w"), indent=1)
