"""Tokenizer stage: a byte-level BPE trained with HF `tokenizers` on the curated documents, saved as
DIR/tokenizer/tokenizer.json (or an existing tokenizer.json reused)."""

import shutil

from refinery.atomic import atomic_path

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


def sample_texts(texts, max_chars: int):
    """The first max_chars characters of the corpus, whole documents (the last one cut)."""
    left = max_chars
    for text in texts:
        if left <= 0:
            return
        yield text[:left]
        left -= len(text)


def load_existing_tokenizer(path: str):
    """A tokenizer.json given in the config, checked (preflight calls this before any work)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    if tok.token_to_id(EOS) is None:
        raise ValueError(f"{path}: the tokenizer has no {EOS} token")
    return tok


def build_tokenizer(texts, out_path: str, vocab_size: int, sample_chars: int, min_frequency: int, existing: str | None):
    """Writes out_path atomically; returns it. `existing`: a tokenizer.json to copy instead of training."""
    if existing:
        load_existing_tokenizer(existing)
    with atomic_path(out_path, "tokenizer") as tmp:
        if existing:
            shutil.copyfile(existing, tmp)
        else:
            train_bpe(sample_texts(texts, sample_chars), vocab_size, min_frequency).save(tmp)
    return out_path
