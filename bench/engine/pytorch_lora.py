#!/usr/bin/python3
"""PyTorch-eager side of the engine benchmark: LoRA training steps and KV-cached greedy generation.

Builds GPT-2-small or Llama-3.2-1B shapes with random fp32 weights, freezes the base, puts LoRA
(rank 8, alpha 16 by default) on every linear layer except lm_head, then times
  * training steps: forward + causal-LM cross-entropy + backward + AdamW step on the LoRA parameters
    (batch 1, sequence 256 by default);
  * greedy generation with a KV cache: prefill a prompt (32 tokens), then decode --gen-tokens tokens
    one at a time (lm_head on the last position only).
Prints human-readable lines, then exactly one JSON line of figures as the last line of stdout, so
the C++ benchmark can run it as a subprocess and parse that line.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/engine/pytorch_lora.py --model gpt2 --threads 1
       /usr/bin/python3 bench/engine/pytorch_lora.py --model llama1b --layers 2 --steps 3
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    # GPT-2 small (124M)
    "gpt2": dict(family="gpt2", vocab=50257, dim=768, layers=12, heads=12, kv_heads=12, head_dim=64,
                 ffn=3072, max_pos=1024, eps=1e-5),
    # Llama-3.2-1B shapes, tied embeddings
    "llama1b": dict(family="llama", vocab=128256, dim=2048, layers=16, heads=32, kv_heads=8,
                    head_dim=64, ffn=8192, max_pos=131072, eps=1e-5, rope_theta=500000.0),
}


class LoraLinear(nn.Module):
    """Frozen y = x W^T (+ b) plus trainable scaling * x A^T B^T (PEFT layout: A [r,in], B [out,r])."""

    def __init__(self, fin, fout, rank, alpha, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) * 0.02, requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(fout), requires_grad=False) if bias else None
        self.lora_a = nn.Parameter(torch.randn(rank, fin) / math.sqrt(fin))
        self.lora_b = nn.Parameter(torch.zeros(fout, rank))  # PEFT's default: B = 0
        self.scaling = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scaling


def attend(q, k, v, causal):
    """q [B,H,T,D], k/v [B,H,S,D]; causal masks future keys (query i sits at position S-T+i)."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        t, s = q.shape[-2], k.shape[-2]
        mask = torch.ones(t, s, dtype=torch.bool).triu(s - t + 1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class Gpt2Block(nn.Module):
    def __init__(self, c, rank, alpha):
        super().__init__()
        d = c["dim"]
        self.c = c
        self.ln_1 = nn.LayerNorm(d, eps=c["eps"])
        self.c_attn = LoraLinear(d, 3 * d, rank, alpha, True)
        self.c_proj = LoraLinear(d, d, rank, alpha, True)
        self.ln_2 = nn.LayerNorm(d, eps=c["eps"])
        self.c_fc = LoraLinear(d, c["ffn"], rank, alpha, True)
        self.mlp_proj = LoraLinear(c["ffn"], d, rank, alpha, True)
        for p in list(self.ln_1.parameters()) + list(self.ln_2.parameters()):
            p.requires_grad_(False)

    def forward(self, x, cache, pos0):
        b, t, d = x.shape
        h, hd = self.c["heads"], self.c["head_dim"]
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, h, hd).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            if "k" in cache:
                k = torch.cat((cache["k"], k), dim=2)
                v = torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        a = attend(q, k, v, True).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(a)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaBlock(nn.Module):
    def __init__(self, c, rank, alpha):
        super().__init__()
        d, hd = c["dim"], c["head_dim"]
        self.c = c
        self.input_layernorm = RmsNorm(d, c["eps"])
        self.q_proj = LoraLinear(d, c["heads"] * hd, rank, alpha, False)
        self.k_proj = LoraLinear(d, c["kv_heads"] * hd, rank, alpha, False)
        self.v_proj = LoraLinear(d, c["kv_heads"] * hd, rank, alpha, False)
        self.o_proj = LoraLinear(c["heads"] * hd, d, rank, alpha, False)
        self.post_attention_layernorm = RmsNorm(d, c["eps"])
        self.gate_proj = LoraLinear(d, c["ffn"], rank, alpha, False)
        self.up_proj = LoraLinear(d, c["ffn"], rank, alpha, False)
        self.down_proj = LoraLinear(c["ffn"], d, rank, alpha, False)

    def forward(self, x, cache, pos0, rope):
        b, t, _ = x.shape
        h, kvh, hd = self.c["heads"], self.c["kv_heads"], self.c["head_dim"]
        cos, sin = rope
        y = self.input_layernorm(x)
        q = self.q_proj(y).view(b, t, h, hd).transpose(1, 2)
        k = self.k_proj(y).view(b, t, kvh, hd).transpose(1, 2)
        v = self.v_proj(y).view(b, t, kvh, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat((cache["k"], k), dim=2)
                v = torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        rep = h // kvh
        a = attend(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), True)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, t, h * hd))
        y = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class Model(nn.Module):
    def __init__(self, c, rank, alpha):
        super().__init__()
        self.c = c
        self.embed = nn.Parameter(torch.randn(c["vocab"], c["dim"]) * 0.02, requires_grad=False)
        if c["family"] == "gpt2":
            self.wpe = nn.Parameter(torch.randn(c["max_pos"], c["dim"]) * 0.01, requires_grad=False)
            self.blocks = nn.ModuleList(Gpt2Block(c, rank, alpha) for _ in range(c["layers"]))
            self.norm = nn.LayerNorm(c["dim"], eps=c["eps"])
            self.norm.requires_grad_(False)
        else:
            hd = c["head_dim"]
            self.inv_freq = 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
            self.blocks = nn.ModuleList(LlamaBlock(c, rank, alpha) for _ in range(c["layers"]))
            self.norm = RmsNorm(c["dim"], c["eps"])

    def forward(self, ids, caches=None, pos0=0, last_only=False):
        t = ids.shape[1]
        x = self.embed[ids]
        if self.c["family"] == "gpt2":
            x = x + self.wpe[pos0:pos0 + t]
            extra = ()
        else:
            ang = torch.arange(pos0, pos0 + t, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
            emb = torch.cat((ang, ang), dim=-1)
            extra = ((emb.cos(), emb.sin()),)
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i], pos0, *extra)
        x = self.norm(x)
        if last_only:
            x = x[:, -1:]
        return F.linear(x, self.embed)  # tied lm_head (not adapted); 2x faster than x @ embed.T here


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description="PyTorch eager LoRA training / generation benchmark")
    ap.add_argument("--model", choices=sorted(PRESETS), default="gpt2")
    ap.add_argument("--layers", type=int, default=0, help="override the layer count (0: full model)")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (0: OMP_NUM_THREADS or torch's default)")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    c = dict(PRESETS[args.model])
    full_layers = c["layers"]
    if args.layers > 0:
        c["layers"] = args.layers

    t0 = time.perf_counter()
    model = Model(c, args.rank, args.alpha)
    build_s = time.perf_counter() - t0
    lora = [p for n, p in model.named_parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in lora)
    n_base = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    print(f"model {args.model}: {c['layers']}/{full_layers} layers, base {n_base / 1e6:.1f}M frozen, "
          f"LoRA {n_lora / 1e6:.3f}M trainable (r={args.rank}, alpha={args.alpha:g}), "
          f"threads {torch.get_num_threads()}, built in {build_s:.1f}s (peak RSS {peak_rss_mb():.0f} MB)", flush=True)

    opt = torch.optim.AdamW(lora, lr=args.lr)
    ids = torch.randint(0, c["vocab"], (args.batch, args.seq))
    times = []
    loss = float("nan")
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        logits = model(ids)
        l = F.cross_entropy(logits[:, :-1].reshape(-1, c["vocab"]), ids[:, 1:].reshape(-1))
        l.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        loss = float(l)
        del logits, l
        tag = "warmup" if step < args.warmup else "step"
        print(f"  {tag} {step}: {dt * 1000:.0f} ms, loss {loss:.4f}", flush=True)
        if step >= args.warmup:
            times.append(dt)
    step_s = statistics.median(times) if times else float("nan")
    train_tps = args.batch * args.seq / step_s
    print(f"train: median step {step_s * 1000:.0f} ms, {train_tps:.1f} tokens/s "
          f"(batch {args.batch} x seq {args.seq})", flush=True)

    prompt = torch.randint(0, c["vocab"], (1, args.prompt_tokens))
    generated = []
    with torch.no_grad():
        caches = [dict() for _ in range(c["layers"])]
        t0 = time.perf_counter()
        nxt = model(prompt, caches, 0, last_only=True)[:, -1].argmax(-1, keepdim=True)
        prefill_s = time.perf_counter() - t0
        generated.append(int(nxt))
        pos = args.prompt_tokens
        t0 = time.perf_counter()
        for _ in range(args.gen_tokens - 1):
            nxt = model(nxt, caches, pos, last_only=True)[:, -1].argmax(-1, keepdim=True)
            generated.append(int(nxt))
            pos += 1
        decode_s = time.perf_counter() - t0
    decode_tps = (args.gen_tokens - 1) / decode_s if args.gen_tokens > 1 else float("nan")
    total_tps = args.gen_tokens / (prefill_s + decode_s)
    print(f"generate: prefill {args.prompt_tokens} tokens {prefill_s * 1000:.0f} ms, "
          f"decode {decode_tps:.2f} tokens/s, {args.gen_tokens} new tokens end to end "
          f"{total_tps:.2f} tokens/s", flush=True)
    rss = peak_rss_mb()
    print(f"peak RSS {rss:.0f} MB", flush=True)

    figures = {
        "bench": "engine/pytorch_lora", "impl": "pytorch-eager", "torch": torch.__version__,
        "model": args.model, "layers": c["layers"], "full_layers": full_layers,
        "threads": torch.get_num_threads(), "omp": torch.get_num_threads(),
        "blas": int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0), "batch": args.batch, "seq": args.seq,
        "rank": args.rank, "alpha": args.alpha, "base_params": n_base, "lora_params": n_lora,
        "steps": args.steps, "warmup": args.warmup,
        "step_ms_median": round(step_s * 1000, 2), "step_ms": [round(t * 1000, 2) for t in times],
        "train_tokens_per_s": round(train_tps, 3), "final_loss": round(loss, 5),
        "prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens,
        "prefill_ms": round(prefill_s * 1000, 2), "decode_tokens_per_s": round(decode_tps, 3),
        "gen_tokens_per_s": round(total_tps, 3), "peak_rss_mb": round(rss, 1),
    }
    sys.stdout.flush()
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
