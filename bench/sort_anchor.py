# bench/sort_anchor.py — the PyTorch anchor for bench/pass.bench.ts on the GPU machine: torch.sort of
# the pass's scores (32 layers × 8 KV heads × T tokens, f32) as the reference fork orders them,
# per head (rows) and flat, and torch.topk of the chunk keys' size. CUDA events, median of 20.
import sys
import torch

def ms(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]

print(torch.cuda.get_device_name(0), torch.__version__)
for T in (32768, 8192):
    x = torch.rand(32 * 8, T, device="cuda")
    rows = ms(lambda: torch.sort(x, dim=1))
    flat = ms(lambda: torch.sort(x.view(-1)))
    keys = x[:, ::16].contiguous().view(-1)
    topk = ms(lambda: torch.topk(keys, keys.numel() * 7 // 8, largest=False))
    print(f"T={T}: torch.sort {x.numel()} f32 per head (256 rows) {rows:.3f} ms, flat {flat:.3f} ms; "
          f"topk of {keys.numel()} chunk keys (7/8) {topk:.3f} ms")
