# Random-weight bf16 safetensors at real shapes (speed only; never commit). Adapted in spirit from
# ../shared/gpu/anchors/mkmodel.py, plus the Qwen2.5-0.5B shape (q/k/v bias, model_type qwen2).
# Usage: engine_mkmodel.py OUTDIR PRESET TOKENIZER_DIR [VOCAB]
# VOCAB defaults to the real model's (49152 / 151936 / 128256, tied embeddings as those models):
# the classifier is a quarter of the 1B model's bytes. The tokenizer copied in is any HF one (the
# bench feeds ids < 2000, so its vocabulary need not match); VOCAB 2048 gives the earlier tables' models.
import json, os, sys, shutil
import torch
from safetensors.torch import save_file
out, preset, tok = sys.argv[1], sys.argv[2], sys.argv[3]
P = {
 "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, head_dim=64),
 "qwen25-05b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, head_dim=64),
 "llama32-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64),
}[preset]
qwen = preset.startswith("qwen")
vocab = int(sys.argv[4]) if len(sys.argv) > 4 else {"smollm2-135m": 49152, "qwen25-05b": 151936, "llama32-1b": 128256}[preset]
cfg = dict(architectures=["Qwen2ForCausalLM" if qwen else "LlamaForCausalLM"], model_type="qwen2" if qwen else "llama",
           vocab_size=vocab, max_position_embeddings=16384, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
           hidden_act="silu", bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16", **P)
os.makedirs(out, exist_ok=True)
json.dump(cfg, open(f"{out}/config.json", "w"))
g = torch.Generator().manual_seed(0)
H, I, L, nq, nkv, d = P["hidden_size"], P["intermediate_size"], P["num_hidden_layers"], P["num_attention_heads"], P["num_key_value_heads"], P["head_dim"]
def r(*s, scale=0.02): return (torch.randn(*s, generator=g) * scale).to(torch.bfloat16)
t = {"model.embed_tokens.weight": r(vocab, H), "model.norm.weight": torch.ones(H, dtype=torch.bfloat16)}
for l in range(L):
    p = f"model.layers.{l}."
    t[p+"input_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16)
    t[p+"post_attention_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16)
    t[p+"self_attn.q_proj.weight"] = r(nq*d, H); t[p+"self_attn.k_proj.weight"] = r(nkv*d, H)
    t[p+"self_attn.v_proj.weight"] = r(nkv*d, H); t[p+"self_attn.o_proj.weight"] = r(H, nq*d)
    if qwen:
        t[p+"self_attn.q_proj.bias"] = r(nq*d); t[p+"self_attn.k_proj.bias"] = r(nkv*d); t[p+"self_attn.v_proj.bias"] = r(nkv*d)
    t[p+"mlp.gate_proj.weight"] = r(I, H); t[p+"mlp.up_proj.weight"] = r(I, H); t[p+"mlp.down_proj.weight"] = r(H, I)
save_file(t, f"{out}/model.safetensors", metadata={"format": "pt"})
for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    if os.path.exists(f"{tok}/{f}"): shutil.copy(f"{tok}/{f}", out)
print(out, sum(v.numel() for v in t.values()), "params")
