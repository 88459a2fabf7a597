"""The decoding engine under rlvr's samplers: a preallocated KV cache, a deduplicated prefill, one-token steps.

    dec = Decoder(model, max_len=P + N)
    logits = dec.prefill(ids, mask)             # (B, V) last-position logits; identical prompts run once
    logits = dec.step(tok, mask[:, :S], pos)    # (b, V) after feeding one token per live row
    dec.select(index)                           # keep / reorder / duplicate cache rows (finished rows, forks)

GRPO rollouts repeat every prompt `num_generations` times; `prefill` runs each distinct prompt once and copies its
cache rows. `step` takes a lean path for small Llama-layout models (llama, qwen2 without sliding windows, plain
`nn.Linear` projections, up to `LEAN_MAX_PARAMS`): weights packed once per Decoder (q/k/v and gate/up become
one matmul each), rotary cos/sin read from a table, attention as two batched matmuls over the preallocated
cache, no per-forward mask or kwargs machinery. It runs the same modules' weights through the same math as
HF's forward; greedy decoding equals `model.generate` token for token (tests/test_sampling.py). Any other model
goes through its own HF forward. `use_compiled_step` (the `compile_sampler` setting) runs the lean step through
torch.compile: one compile per process, then fused elementwise work between the matmuls (benchmarks/README.md).

Written by hand: HF `generate` spends most of a tiny model's step in Python (logits processors, mask building,
cache bookkeeping), and neither transformers nor TRL offers a lean CPU decode loop (vLLM is GPU-only).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from rlvr.errors import RLVRError

LEAN_MODEL_TYPES = {"llama", "qwen2"}
LEAN_ROPE_TYPES = {"default", "linear", "llama3"}  # static frequency tables (dynamic NTK rescales per length)
# Packing copies the q/k/v and gate/up weights once per Decoder; above this size that copy (and its memory) costs
# more than the per-step Python overhead it saves, so larger models keep their HF forward.
LEAN_MAX_PARAMS = 50_000_000


class _PreallocLayer(DynamicLayer):
    """A `DynamicLayer` writing into a preallocated (B, H, max_len, D) buffer: no per-step `torch.cat` copy."""

    def __init__(self, max_len: int):
        super().__init__()
        self.max_len, self.n = max_len, 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        B, H, _, _ = key_states.shape
        self.k_buf = key_states.new_empty((B, H, self.max_len, key_states.shape[-1]))  # (B, H, L, Dk)
        self.v_buf = value_states.new_empty((B, H, self.max_len, value_states.shape[-1]))  # (B, H, L, Dv)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.n + key_states.shape[-2]
        self.k_buf[:, :, self.n : end] = key_states
        self.v_buf[:, :, self.n : end] = value_states
        self.n = end
        self.keys, self.values = self.k_buf[:, :, :end], self.v_buf[:, :, :end]  # (B, H, n, D) views
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self.k_buf = _gather_rows(self.k_buf, indices, self.n)
            self.v_buf = _gather_rows(self.v_buf, indices, self.n)
            self.keys, self.values = self.k_buf[:, :, : self.n], self.v_buf[:, :, : self.n]


def _gather_rows(buf: torch.Tensor, indices: torch.Tensor, n: int) -> torch.Tensor:
    """Rows `indices` of a (B, H, L, D) buffer in a fresh one, copying only the n filled positions (the rest is
    written before it is read). `buf[indices]` copied all L, unfilled ones included: 3-10x slower mid-rollout."""
    out = buf.new_empty((len(indices), *buf.shape[1:]))  # (b', H, L, D)
    torch.index_select(buf[:, :, :n], 0, indices, out=out[:, :, :n])  # writes through the strided view
    return out


_PROJECTIONS = [f"self_attn.{n}_proj" for n in "qkvo"] + [f"mlp.{n}_proj" for n in ("gate", "up", "down")]


def _lean_supported(model, cache: DynamicCache) -> bool:
    cfg, inner = model.config, getattr(model, "model", None)
    if cfg.model_type not in LEAN_MODEL_TYPES or getattr(cfg, "use_sliding_window", False):
        return False
    if sum(p.numel() for p in model.parameters()) > LEAN_MAX_PARAMS:
        return False
    if not hasattr(inner, "layers") or not all(isinstance(layer, _PreallocLayer) for layer in cache.layers):
        return False
    # LoRA-wrapped or quantized projections keep the HF forward.
    plain = all(type(lay.get_submodule(n)) is torch.nn.Linear for lay in inner.layers for n in _PROJECTIONS)
    return plain and getattr(inner.rotary_emb, "rope_type", "default") in LEAN_ROPE_TYPES


def _cat_bias(linears) -> torch.Tensor | None:
    """The concatenated biases of `linears` (zeros for a bias-free one), or None when none has a bias."""
    if all(m.bias is None for m in linears):
        return None
    return torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.out_features) for m in linears])


def _pack(layer) -> SimpleNamespace:
    """One layer's weights, q/k/v and gate/up concatenated so each becomes one matmul."""
    a, m = layer.self_attn, layer.mlp
    qkv, gu = (a.q_proj, a.k_proj, a.v_proj), (m.gate_proj, m.up_proj)
    return SimpleNamespace(
        ln1=layer.input_layernorm,
        ln2=layer.post_attention_layernorm,
        w_qkv=torch.cat([p.weight for p in qkv]),  # (Dq + 2 Dkv, d)
        b_qkv=_cat_bias(qkv),
        w_o=a.o_proj.weight,
        b_o=a.o_proj.bias,
        w_gu=torch.cat([p.weight for p in gu]),  # (2 I, d)
        b_gu=_cat_bias(gu),
        w_d=m.down_proj.weight,
        b_d=m.down_proj.bias,
        act=m.act_fn,
        scale=a.scaling,
    )


def _rms_norm(mod, h: torch.Tensor) -> torch.Tensor:
    # Fused op; equals LlamaRMSNorm bit for bit in float32 (other dtypes keep the module's casts).
    if h.dtype != torch.float32:
        return mod(h)
    return F.rms_norm(h, mod.weight.shape, mod.weight, mod.variance_epsilon)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class _Lean:
    """One-token decode through a Llama-layout model's packed weights (see the module docstring)."""

    def __init__(self, model, max_len: int):
        inner, cfg = model.model, model.config
        self.H, self.Hkv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.D = inner.layers[0].self_attn.head_dim
        self.I = inner.layers[0].mlp.gate_proj.out_features
        self.layers = [_pack(layer) for layer in inner.layers]
        self.embed, self.norm, self.head = inner.embed_tokens.weight, inner.norm, model.lm_head
        pos = torch.arange(max_len, device=self.embed.device)[None]  # (1, L) every position a row can reach
        cos, sin = inner.rotary_emb(self.embed[None, :1], pos)  # (1, L, D) HF's own values
        self.cos, self.sin = cos[0], sin[0]  # (L, D)

    def step(self, tok: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: DynamicCache) -> torch.Tensor:
        b, H, Hkv, D = len(tok), self.H, self.Hkv, self.D
        h = F.embedding(tok, self.embed)  # (b, d)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # (b, 1, D)
        bias = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill_(mask == 0, float("-inf"))
        bias = bias[:, None, None, :]  # (b, 1, 1, S) additive attention mask
        for w, kv in zip(self.layers, cache.layers):
            qkv = F.linear(_rms_norm(w.ln1, h), w.w_qkv, w.b_qkv).view(b, H + 2 * Hkv, D)  # (b, H+2Hkv, D)
            qk = qkv[:, : H + Hkv]  # (b, H+Hkv, D) q and k heads share the rotation
            qk = qk * cos + _rotate_half(qk) * sin
            k, v = kv.update(qk[:, H:, None], qkv[:, H + Hkv :, None])  # (b, Hkv, S, D) each
            q = qk[:, :H].reshape(b, Hkv, H // Hkv, D)  # (b, Hkv, G, D) query heads grouped by kv head (GQA)
            s = torch.matmul(q, k.transpose(-1, -2)).mul_(w.scale).add_(bias)  # (b, Hkv, G, S)
            o = torch.matmul(s.softmax(-1), v)  # (b, Hkv, G, D)
            h = h + F.linear(o.reshape(b, H * D), w.w_o, w.b_o)  # (b, d)
            gate, up = F.linear(_rms_norm(w.ln2, h), w.w_gu, w.b_gu).split(self.I, dim=-1)  # (b, I) each
            h = h + F.linear(w.act(gate) * up, w.w_d, w.b_d)  # (b, d)
        return self.head(_rms_norm(self.norm, h))  # (b, V)


# torch.compile of `_Lean.step`, process-wide once `use_compiled_step` is called (the `compile_sampler` setting).
_COMPILED: dict = {"step": None}


def use_compiled_step(model, on: bool = True) -> None:
    """Route every Decoder's lean step through torch.compile(dynamic=True) from now on in this process (`on=False`:
    back to the eager step; each run sets it, so a later run in the same process gets what its recipe says).

    One graph covers every batch size and cache length (dynamic shapes); the compile happens at the first decode
    step (about half a minute on one CPU thread). Raises a one-line RLVRError when `model` does not take the lean path,
    where there would be nothing to compile.
    """
    if not on:
        _COMPILED["step"] = None
        return
    if Decoder(model, 1).lean is None:
        raise RLVRError(
            "compile_sampler compiles the lean decode step of small Llama-layout models (llama/qwen2, plain "
            f"projections, <= {LEAN_MAX_PARAMS:,} parameters); this model decodes through its HF forward: set "
            "compile_sampler=false"
        )
    if _COMPILED["step"] is None:
        _COMPILED["step"] = torch.compile(_Lean.step, dynamic=True)


def _compiled_step(lean: _Lean, *args) -> torch.Tensor:
    try:
        return _COMPILED["step"](lean, *args)
    except Exception as e:  # inductor's failures (no C++ compiler, ...) are long tracebacks
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise RLVRError(
            f"compile_sampler: the compiled decode step failed ({type(e).__name__}: {first}); "
            "set compile_sampler=false to decode without torch.compile"
        ) from e


class Decoder:
    """A KV cache over `max_len` positions plus the prefill / step / select calls the samplers need."""

    def __init__(self, model, max_len: int):
        self.model = model
        self.cache = DynamicCache(config=model.config)
        # Plain full-attention layers preallocate; other layer kinds (sliding windows, ...) stay as HF built them.
        self.cache.layers = [_PreallocLayer(max_len) if type(lay) is DynamicLayer else lay for lay in self.cache.layers]
        self.lean = _Lean(model, max_len) if _lean_supported(model, self.cache) else None

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last-position logits (B, V) of left-padded prompts (B, P); repeated prompts are computed once.

        Positions count real tokens only, so left padding does not shift them (as HF generate does).
        """
        P = ids.shape[1]
        uniq, inverse = torch.unique(torch.cat([ids, mask], 1), dim=0, return_inverse=True)  # (U, 2P), (B,)
        dedupe = len(uniq) < len(ids)
        if dedupe:
            ids, mask = uniq[:, :P], uniq[:, P:]  # (U, P) each
        pos = (mask.cumsum(-1) - 1).clamp_min(0)  # (U, P)
        kw = dict(attention_mask=mask, position_ids=pos, past_key_values=self.cache, use_cache=True, logits_to_keep=1)
        logits = self.model(input_ids=ids, **kw).logits[:, -1, :]  # (U, V)
        if dedupe:
            self.cache.batch_select_indices(inverse)
            logits = logits[inverse]  # (B, V)
        return logits

    def step(self, tok: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Feed one token per live row (b,) at positions `pos` (b,) with attention mask (b, S); return (b, V)."""
        if self.lean is not None:
            if _COMPILED["step"] is not None:
                return _compiled_step(self.lean, tok, mask, pos, self.cache)
            return self.lean.step(tok, mask, pos, self.cache)
        kw = dict(attention_mask=mask, position_ids=pos[:, None], past_key_values=self.cache, use_cache=True)
        return self.model(input_ids=tok[:, None], **kw).logits[:, -1, :]  # (b, V)

    def select(self, index: torch.Tensor) -> None:
        """Keep cache rows `index` (b',) in that order; a repeated index duplicates a row."""
        self.cache.batch_select_indices(index)
