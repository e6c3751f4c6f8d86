"""`refinery export CKPT --out DIR`: a checkpoint as a Hugging Face `transformers` GPT-2 model folder, written with
safetensors and JSON alone (transformers is not imported here).

The mapping, checked against trainer/model.py:
  - GELU: refinery uses the tanh approximation, GPT-2's `gelu_new`;
  - LayerNorm eps 1e-5 (torch's default) = GPT-2's layer_norm_epsilon;
  - learned absolute position embeddings (wpe) of block_size rows = n_positions;
  - pre-LayerNorm blocks, a final LayerNorm, attention scaled by 1/sqrt(head size), MLP 4 x n_embd: as GPT-2;
  - bias: false (refinery's default) has no Linear or LayerNorm biases: written as zeros, which computes the same;
  - GPT-2's Conv1D stores weights as (in, out): refinery's nn.Linear weights are transposed;
  - tied embeddings: one wte matrix, sliced from the padded vocabulary (a multiple of 64) back to the tokenizer's
    size, so the logits of the padding ids (never targets, never sampled) are simply absent.
Nothing refinery's model does falls outside GPT2Config, so the exported model computes the same logits.
"""

import json
import os
import shutil

import torch
from safetensors.torch import save_file

from trainer.checkpoint import CheckpointError, load_for_inference, resolve_checkpoint
from trainer.model import GPT

EOS = "<|endoftext|>"


def hf_config(model: GPT, vocab: dict) -> dict:
    c = model.cfg
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab["vocab_size"],
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": 4 * c.n_embd,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "use_cache": True,
        "tie_word_embeddings": True,
        "bos_token_id": vocab["eos_id"],
        "eos_token_id": vocab["eos_id"],
        "torch_dtype": "float32",
    }


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    V, C = model.vocab_size, model.cfg.n_embd
    zeros = lambda n: torch.zeros(n)  # noqa: E731
    bias = lambda layer, n: (layer.bias.detach() if layer.bias is not None else zeros(n))  # noqa: E731
    out = {
        "transformer.wte.weight": model.wte.weight.detach()[:V],
        "transformer.wpe.weight": model.wpe.weight.detach(),
        "transformer.ln_f.weight": model.ln_f.weight.detach(),
        "transformer.ln_f.bias": bias(model.ln_f, C),
    }
    for i, b in enumerate(model.blocks):
        p = f"transformer.h.{i}."
        out.update({
            p + "ln_1.weight": b.ln_1.weight.detach(), p + "ln_1.bias": bias(b.ln_1, C),
            p + "attn.c_attn.weight": b.attn.qkv.weight.detach().t(), p + "attn.c_attn.bias": bias(b.attn.qkv, 3 * C),
            p + "attn.c_proj.weight": b.attn.proj.weight.detach().t(), p + "attn.c_proj.bias": bias(b.attn.proj, C),
            p + "ln_2.weight": b.ln_2.weight.detach(), p + "ln_2.bias": bias(b.ln_2, C),
            p + "mlp.c_fc.weight": b.mlp.fc.weight.detach().t(), p + "mlp.c_fc.bias": bias(b.mlp.fc, 4 * C),
            p + "mlp.c_proj.weight": b.mlp.proj.weight.detach().t(), p + "mlp.c_proj.bias": bias(b.mlp.proj, C),
        })
    return {k: v.float().contiguous().clone() for k, v in out.items()}


def export_hf(checkpoint: str, out_dir: str) -> str:
    """Writes the model folder out_dir (atomically: a hidden temporary folder renamed into place); returns it."""
    ckpt = resolve_checkpoint(checkpoint)
    model, _, vocab = load_for_inference(ckpt, "cpu")
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise CheckpointError(f"--out {out_dir} exists and is not empty; choose another folder")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(out_dir))}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        weights = os.path.join(tmp, "model.safetensors")
        save_file(hf_state_dict(model), weights, metadata={"format": "pt"})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(weights, 0o666 & ~umask)  # safetensors creates it owner-only; a model folder is for sharing
        def dump(name, obj):
            with open(os.path.join(tmp, name), "w") as f:
                json.dump(obj, f, indent=1)

        dump("config.json", hf_config(model, vocab))
        dump("generation_config.json", {"bos_token_id": vocab["eos_id"], "eos_token_id": vocab["eos_id"],
                                        "pad_token_id": vocab["eos_id"]})
        shutil.copyfile(os.path.join(ckpt, "tokenizer.json"), os.path.join(tmp, "tokenizer.json"))
        dump("tokenizer_config.json", {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": EOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS,
            "model_max_length": model.cfg.block_size,
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": False,
        })
        dump("special_tokens_map.json", {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS})
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)  # empty, checked above
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
