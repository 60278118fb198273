# bench/sdpa_decode.py — PyTorch scaled_dot_product_attention decode on the shapes of
# bench/decode.bench.ts (32 query / 8 KV heads, d = 128, fp16), timed with CUDA events.
import json, sys, torch
import torch.nn.functional as F

def bench(ctx, b, iters=50):
    q = torch.randn(b, 32, 1, 128, device="cuda", dtype=torch.float16)
    k = torch.randn(b, 8, ctx, 128, device="cuda", dtype=torch.float16)
    v = torch.randn(b, 8, ctx, 128, device="cuda", dtype=torch.float16)
    try:
        f = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        f()
        mode = "enable_gqa"
    except TypeError:
        # Older torch: fold the group into the query length (same bytes read, no K/V copy).
        qg = q.view(b, 8, 4, 128)
        f = lambda: F.scaled_dot_product_attention(qg, k, v)
        mode = "grouped-q"
    for _ in range(5): f()
    times = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); f(); e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    ms = times[len(times) // 2]
    kv = b * 8 * ctx * 128 * 2 * 2
    del q, k, v
    torch.cuda.empty_cache()
    return {"ctx": ctx, "numSeqs": b, "ms": ms, "gbPerS": kv / (ms * 1e6), "mode": mode}

rows = [bench(c, b) for c in (4096, 32768, 131072) for b in (1, 16)]
print("torch", torch.__version__, torch.cuda.get_device_name())
for r in rows: print(f"sdpa ctx={r['ctx']} seqs={r['numSeqs']}: {r['ms']:.3f} ms, {r['gbPerS']:.0f} GB/s ({r['mode']})")
if len(sys.argv) > 1: json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, open(sys.argv[1], "w"), indent=1)
