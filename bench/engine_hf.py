# HF transformers eager bf16 on one model dir: prefill tok/s of a PROMPT_LEN prompt and decode tok/s
# at about CTX context. Prints one JSON line. Usage: engine_hf.py MODEL_DIR PROMPT_LEN CTX DECODE_TOKENS
import json, sys, time, torch
from transformers import AutoModelForCausalLM
path, n, ctx, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
gen = torch.Generator().manual_seed(1)
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).cuda().eval()
def timed(f):
    torch.cuda.synchronize(); t = time.time(); r = f(); torch.cuda.synchronize(); return r, time.time() - t
res = {"model": path}
with torch.no_grad():
    ids = torch.randint(3, 2000, (1, n), generator=gen).cuda()
    model(ids); model.generate(ids[:, :16], max_new_tokens=4, min_new_tokens=4, do_sample=False)
    _, pre = timed(lambda: model(ids, use_cache=True))
    res["prefill_tok_s"] = n / pre
    c = torch.randint(3, 2000, (1, ctx), generator=gen).cuda()
    _, p2 = timed(lambda: model(c, use_cache=True))
    _, tot = timed(lambda: model.generate(c, max_new_tokens=m, min_new_tokens=m, do_sample=False))
    res[f"decode_tok_s_ctx{ctx}"] = m / (tot - p2)
print("HFJSON " + json.dumps(res))
