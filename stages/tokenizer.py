"""Tokenizer stage: a byte-level BPE trained with HF `tokenizers` on the curated documents, saved as
DIR/tokenizer/tokenizer.json (or an existing tokenizer.json reused)."""

import shutil
from dataclasses import asdict, dataclass

from refinery.atomic import atomic_path
from stages.registry import Stage, key

EOS = "<|endoftext|>"


def train_bpe(texts, vocab_size: int, min_frequency: int = 2):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # byte-level: every UTF-8 string encodes, and decode(encode(text)) == text
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def sample_texts(texts, max_chars: int | None):
    """The first max_chars characters of the texts, whole documents (the last one cut); None: all of them."""
    if max_chars is None:
        yield from texts
        return
    left = max_chars
    for text in texts:
        if left <= 0:
            return
        yield text[:left]
        left -= len(text)


def load_text_encoder(path: str):
    """The tokenizer.json at `path`, set to encode documents: a special token's string in a document's text (a page
    that quotes "<|endoftext|>") is encoded as the text it is, never as the special token, so no document puts an
    end-of-text inside itself; decode(encode(text)) == text for every text."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.encode_special_tokens = True
    return tok


def load_existing_tokenizer(path: str):
    """A tokenizer.json given in the config, checked (preflight calls this before any work)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    if tok.token_to_id(EOS) is None:
        raise ValueError(f"{path}: the tokenizer has no {EOS} token")
    return tok


def build_tokenizer(texts, out_path: str, vocab_size: int, sample_chars: int | None, min_frequency: int,
                    existing: str | None):
    """Writes out_path atomically; returns it. `existing`: a tokenizer.json to copy instead of training; sample_chars:
    train on the first that many characters of texts (None: on all of them)."""
    if existing:
        load_existing_tokenizer(existing)
    with atomic_path(out_path, "tokenizer") as tmp:
        if existing:
            shutil.copyfile(existing, tmp)
        else:
            train_bpe(sample_texts(texts, sample_chars), vocab_size, min_frequency).save(tmp)
    return out_path


@dataclass
class TokenizerParams:
    vocab_size: int = key(32768, min=258, help="tokens, including the 256 bytes and EOS")
    sample_chars: int = key(200_000_000, min=0, min_exclusive=True,
                            help="characters of the curated documents the BPE is trained on (about: a sample "
                                 "chosen by id hash, weighted as shards.language_weights weights the shards)")
    min_frequency: int = key(2, min=0, help="a merge must be seen this often")
    path: str | None = key(None, help="a tokenizer.json to copy instead of training one")


class TokenizerStep(Stage):
    """The `tokenizer` step after the funnel: trains (or copies) the tokenizer; with `shards`, the token shards too
    (stages/token_shards.py describes the phases)."""

    name = "tokenizer"
    order = 1000
    funnel = False
    version = 2  # 2: trained on an id-hash sample of the whole corpus, not on its first sample_chars characters
    summary = ("byte-level BPE with HF tokenizers, `<|endoftext|>` as EOS, trained on a sample of the curated documents "
               "chosen by id hash (about sample_chars characters, the same for any layout); decode(encode(text)) == "
               "text; or copies the tokenizer.json in path")
    Params = TokenizerParams
    inspect_metrics = ()
    preflight_label = "stages.tokenizer (HF tokenizers; the tokenizer.json in path)"

    @classmethod
    def build(cls, params, ctx):
        from stages.token_shards import ShardsManifestStep, TokenizeStep, TrainTokenizerStep, WriteShardsStep, shard_ranges

        shards = ctx.params.get("shards")
        args = (ctx.layout, asdict(params), asdict(shards) if shards else None)
        # training is one task over a sample of the whole corpus; then one task per documents file (ctx.tasks of
        # them) encodes, one per key range (shard_ranges) writes the shards, and one merges the manifest once all are
        # written
        ctx.add_phase("tokenizer", rank=50, tasks=1)
        ctx.add("tokenizer", cls.order, TrainTokenizerStep(*args, tasks=1))
        if shards:
            for phase, rank, tasks, step in (("tokenize", 51, ctx.tasks, TokenizeStep),
                                             ("shards", 52, shard_ranges(ctx.tasks), WriteShardsStep),
                                             ("shards_manifest", 53, 1, ShardsManifestStep)):
                ctx.add_phase(phase, rank=rank, tasks=tasks)
                ctx.add(phase, cls.order, step(*args, tasks=ctx.tasks))

    @classmethod
    def preflight(cls, params):
        if params.path:
            load_existing_tokenizer(params.path)  # a bad path fails now, not after the whole curation
        else:
            import tokenizers  # noqa: F401
