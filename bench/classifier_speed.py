"""quality_classifier speed: refinery's stage against calling fastText's predict (type fasttext) or transformers
(type transformers) directly on the same texts.

    python bench/classifier_speed.py                          # 4,000 generated documents, a model trained here
    python bench/classifier_speed.py --docs runs/real/documents --model MODEL.bin
    python bench/classifier_speed.py --tiny                   # smoke test (seconds)
    python bench/classifier_speed.py --type transformers      # 400 documents, a small BERT built here, CPU
    python bench/classifier_speed.py --type transformers --device cuda            # on the GPU (bf16)
    python bench/classifier_speed.py --type transformers --model fineweb-edu-classifier/   # a real model folder

Type transformers: refinery = QualityScoreStep then the decision, as for fastText; direct = AutoTokenizer and
AutoModelForSequenceClassification from the same folder, the texts tokenized as FineWeb-Edu's annotation script
does (padding to the longest, truncation to max_length) in the same batches, model(**inputs).logits. Without
--model a BERT-style model is built here (hidden 256, 4 layers, 4 heads, max 512 tokens, a WordPiece vocabulary of
4,000 trained on the generated texts; random weights: its speed, not its judgement, is measured). On CPU time is
CPU time (--threads torch threads, default 1: docs/s per core); on CUDA wall time after torch.cuda.synchronize.

Measured in this one process, one core, refinery and direct alternated (ABBA...) --repeat times; ratios compare
the best runs (on a shared machine noise only adds time):

  refinery: what a task does: stages.quality_classifier.QualityScoreStep (loads the model, scores the documents a
            batch at a time, stores quality_score) followed by the funnel stage QualityClassifierStage deciding
            by a threshold (counting, no removed/ folder), over datatrove Documents;
  direct:   fasttext.load_model, then for each text DCLM's enricher: predict(" ".join(text.strip().splitlines()))
            one call per document (baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py);
  direct, batched: the same preparation, predict on lists of 256 texts (what the stage calls).

The scores of refinery and of direct-batched are compared (identical); the largest difference from DCLM's
one-call-per-document form is printed (0 with this fastText build). Prints docs/s per core for each, the ratios
refinery/direct and the overhead in percent. Project target: overhead <= 10% over direct fastText.

Without --model a fastText model is trained here with DCLM's recipe (word bigrams, dim 100, lr 0.1, 5 epochs) on
generated texts; --bucket (default 200,000 here, fastText's 2,000,000 with `refinery classifier train`) sets its
size: predict's cost per word grows with dim and word n-grams, not with the number of buckets.
"""

import argparse
import glob
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow.parquet as pq  # noqa: E402
from datatrove.data import Document  # noqa: E402

from stages.quality_classifier import QualityClassifierStage, QualityScoreStep, fasttext_label, prepare_fasttext  # noqa: E402

TARGET_OVERHEAD = 0.10
COMMON = ("the of and to a in is it you that he was for on are with as his they be at one have this from or had by "
          "word but what some we can out other were all there when up use your how said an each she which do their "
          "time if will way about many then them write would like so these her long make thing see him two has look "
          "more day could go come did number sound no most people my over know water than call first who may down "
          "side been now find any new work part take get place made live where after back little only round man year "
          "came show every good me give our under name very through just form sentence great think say help low line").split()
SPAMMY = "buy cheap free click offer deal win casino bonus discount best price sale now limited".split()


def generated(n: int, seed: int, spam_share: float = 0.5) -> list[str]:
    """English-like documents of 300-1200 words, lines of 8-30 words; some with spam words mixed in."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        vocab = COMMON + (SPAMMY * 3 if rng.random() < spam_share else [])
        words = [rng.choice(vocab) for _ in range(rng.randint(300, 1200))]
        lines, i = [], 0
        while i < len(words):
            k = rng.randint(8, 30)
            lines.append(" ".join(words[i : i + k]).capitalize() + ".")
            i += k
        texts.append("\n".join(lines))
    return texts


def train_model(path: str, bucket: int, dim: int, seed: int):
    from pipeline.classifier import train_supervised

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "train.txt")
        with open(data, "w") as f:
            for label, share, s in (("hq", 0.0, seed + 1), ("lq", 1.0, seed + 2)):
                for t in generated(300, s, share):
                    f.write(f"__label__{label} {prepare_fasttext(t)}\n")
        model = train_supervised(data, wordNgrams=2, dim=dim, lr=0.1, epoch=5, minCount=1, bucket=bucket, seed=seed)
    model.save_model(path)


def read_docs(folder: str, limit: int) -> list[str]:
    texts = []
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        texts += [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]
        if len(texts) >= limit:
            break
    return texts[:limit]


def run_refinery(model: str, label: str, docs: list[Document]) -> list[float]:
    scores = QualityScoreStep("fasttext", model, label, None).run(iter(docs))
    kept = QualityClassifierStage(threshold=float("-inf")).run(scores)  # decides, keeps all
    out = []
    for doc in kept:
        out.append(doc.metadata["quality_score"])
    return out


def run_direct(model_path: str, label: str, texts: list[str]) -> list[float]:
    import fasttext

    model = fasttext.load_model(model_path)
    want = fasttext_label(label)
    out = []
    for t in texts:
        labels, probs = model.predict(" ".join(t.strip().splitlines()), k=-1)
        out.append(float(dict(zip(labels, probs))[want]))
    return out


def run_direct_batched(model_path: str, label: str, texts: list[str], batch: int = 256) -> list[float]:
    import fasttext

    model = fasttext.load_model(model_path)
    want = fasttext_label(label)
    out = []
    for i in range(0, len(texts), batch):
        labels, probs = model.predict([" ".join(t.strip().splitlines()) for t in texts[i : i + batch]], k=-1)
        out += [float(dict(zip(ls, ps))[want]) for ls, ps in zip(labels, probs)]
    return out


def build_transformer(folder: str, texts: list[str], hidden: int = 256, layers: int = 4, seed: int = 1):
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts[:200], trainers.WordPieceTrainer(vocab_size=4000, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=512).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=4 * hidden, max_position_embeddings=512,
                        num_labels=1, problem_type="regression")
    BertForSequenceClassification(config).save_pretrained(folder)


def transformers_sides(batch: int, device: str, max_length: int | None):
    def run_refinery_t(model: str, label, docs: list[Document]) -> list[float]:
        scores = QualityScoreStep("transformers", model, label, None, batch,
                                  {"device": device, "max_length": max_length}).run(iter(docs))
        return [d.metadata["quality_score"] for d in QualityClassifierStage(threshold=float("-inf")).run(scores)]

    def run_direct_t(model: str, label, texts: list[str]) -> list[float]:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        net = AutoModelForSequenceClassification.from_pretrained(model, local_files_only=True, dtype=dtype)
        net.to(device).eval()
        out = []
        for i in range(0, len(texts), batch):
            inputs = tokenizer(texts[i : i + batch], return_tensors="pt", padding="longest", truncation=True,
                               max_length=max_length or min(tokenizer.model_max_length,
                                                            net.config.max_position_embeddings)).to(device)
            with torch.inference_mode():
                out += net(**inputs).logits.squeeze(-1).float().cpu().tolist()
        return out

    return {"refinery": run_refinery_t, "direct": run_direct_t}


def main_transformers(args, texts: list[str]) -> int:
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure with --device cuda")
        return 2
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"

    def clock():
        if cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    chars = sum(len(t) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if not model:
            model = os.path.join(tmp, "model")
            build_transformer(model, texts, args.hidden, args.layers, args.seed)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model, local_files_only=True)
        print(f"{len(texts):,} documents, {chars / len(texts):,.0f} characters on average; model "
              f"{getattr(config, 'model_type', '?')} hidden {config.hidden_size}, {config.num_hidden_layers} layers"
              + ("" if args.model else " (built here, random weights)")
              + f"; batch {args.batch}, max_length {args.max_length or 'of the model'}; device {args.device}"
              + ("" if cuda else f", {args.threads} torch thread(s)"))
        docs = [Document(text=t, id=f"d{i:08d}", metadata={}) for i, t in enumerate(texts)]
        sides = transformers_sides(args.batch, args.device, args.max_length)
        sides["refinery"](model, None, docs[: args.batch])  # warm-up (CUDA kernels, allocator)
        times = {k: [] for k in sides}
        scores = {}
        order = list(sides)
        for r in range(args.repeat):
            for name in (order if r % 2 == 0 else order[::-1]):
                start = clock()
                scores[name] = sides[name](model, None, [Document(text=d.text, id=d.id, metadata={}) for d in docs]
                                           if name == "refinery" else texts)
                times[name].append(clock() - start)
    best = {k: min(v) for k, v in times.items()}
    unit = "docs/s (GPU)" if cuda else "docs/s per core"
    print(f"{'':<18} {'best s':>8} {'median s':>9} {unit:>16}")
    for name in sides:
        per = len(texts) / best[name] / (1 if cuda else args.threads)
        print(f"{name:<18} {best[name]:>8.3f} {statistics.median(times[name]):>9.3f} {per:>16,.1f}")
    diff = max(abs(a - b) for a, b in zip(scores["refinery"], scores["direct"]))
    same = diff <= (1e-2 if cuda else 1e-5)
    print(f"scores equal (refinery vs direct): {'yes' if same else 'NO'} (largest difference {diff:.2e})")
    ratio = best["refinery"] / best["direct"]
    print(f"ratio refinery/direct time: {ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%, target <= "
          f"{100 * TARGET_OVERHEAD:.0f}%)")
    return 0 if same else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", help="a folder of documents Parquet files (e.g. a run's documents/)")
    p.add_argument("--n", type=int, default=4000,
                   help="documents (generated, or the first N of --docs, repeated when it has fewer)")
    p.add_argument("--model", help="a fastText model (default: train one here)")
    p.add_argument("--label", default="hq")
    p.add_argument("--bucket", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="smoke test: 200 documents, a small model, 2 repeats")
    p.add_argument("--type", choices=("fasttext", "transformers"), default="fasttext")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="transformers: where the model runs")
    p.add_argument("--batch", type=int, default=32, help="transformers: documents per batch (the stage's default)")
    p.add_argument("--max-length", type=int, default=None, help="transformers: tokens read (default: the model's)")
    p.add_argument("--threads", type=int, default=1, help="transformers on CPU: torch threads")
    p.add_argument("--hidden", type=int, default=256, help="transformers, the model built here: hidden size")
    p.add_argument("--layers", type=int, default=4, help="transformers, the model built here: layers")
    args = p.parse_args(argv)
    if args.type == "transformers":
        if args.n == 4000:
            args.n = 400
        if args.tiny:
            args.n, args.hidden, args.layers, args.repeat, args.max_length = 40, 32, 2, 2, 128
    elif args.tiny:
        args.n, args.bucket, args.dim, args.repeat = 200, 5000, 16, 2
    texts = read_docs(args.docs, args.n) if args.docs else generated(args.n, args.seed)
    if args.type == "transformers":
        if texts and len(texts) < args.n:
            texts = (texts * (args.n // len(texts) + 1))[: args.n]
        return main_transformers(args, texts)
    distinct = len(texts)
    if texts and len(texts) < args.n:  # a small run: its documents repeated, so model loading does not dominate
        texts = (texts * (args.n // len(texts) + 1))[: args.n]
    chars = sum(len(t) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if not model:
            model = os.path.join(tmp, "model.bin")
            train_model(model, args.bucket, args.dim, args.seed)
        size = os.path.getsize(model) / 1e6
        print(f"{len(texts):,} documents" + (f" ({distinct:,} distinct, repeated)" if distinct < len(texts) else "")
              + f", {chars / len(texts):,.0f} characters on average; model {size:.1f} MB"
              + ("" if args.model else f" (trained here: dim {args.dim}, bucket {args.bucket:,}, word bigrams)"))
        docs = [Document(text=t, id=f"d{i:08d}", metadata={}) for i, t in enumerate(texts)]  # as a pipeline has them
        sides = {"refinery": run_refinery, "direct": run_direct, "direct, batched": run_direct_batched}
        times = {k: [] for k in sides}
        scores = {}
        order = list(sides)
        for r in range(args.repeat):
            for name in (order if r % 2 == 0 else order[::-1]):
                start = time.process_time()
                scores[name] = sides[name](model, args.label, docs if name == "refinery" else texts)
                times[name].append(time.process_time() - start)
    best = {k: min(v) for k, v in times.items()}
    print(f"{'':<18} {'best s':>8} {'median s':>9} {'docs/s per core':>16}")
    for name in sides:
        print(f"{name:<18} {best[name]:>8.3f} {statistics.median(times[name]):>9.3f} {len(texts) / best[name]:>16,.0f}")
    same = scores["refinery"] == scores["direct, batched"]
    close = max(abs(a - b) for a, b in zip(scores["refinery"], scores["direct"])) if texts else 0.0
    print(f"scores identical (refinery vs direct, batched): {'yes' if same else 'NO'}; largest difference from "
          f"one call per document: {close:.2e}")
    for ref in ("direct", "direct, batched"):
        ratio = best["refinery"] / best[ref]
        print(f"ratio refinery/{ref} time: {ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%, target <= "
              f"{100 * TARGET_OVERHEAD:.0f}%)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
