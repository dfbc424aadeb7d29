"""Small random checkpoints of each hub family KLUE teams fine-tune, built offline with the real classes.

The tiny BERT alone hides real bugs: ``klue/roberta-*`` is a ``RobertaModel`` with a single token-type row behind
a WordPiece ``BertTokenizer`` that still emits type 1 for a pair's second text; ``xlm-roberta-*`` has a
SentencePiece (Unigram) tokenizer, ``<s> A </s></s> B </s>`` pairs, no token types and position ids offset by
the padding index; KoELECTRA's embeddings are narrower than its hidden states (``embedding_size !=
hidden_size``). Each builder here writes a local folder that loads with ``AutoModel`` / ``AutoTokenizer`` like
the hub model it stands for, with random weights (the hubs are not reachable from CI; results on these say
nothing about the real models' quality, only that every code path runs). Tests and ``bench/`` share them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from core.train.encoding import format_vocabulary

#: Family name -> the hub models it stands for.
FAMILIES: dict[str, str] = {
    "bert": "klue/bert-base (BertModel, WordPiece, two token types)",
    "roberta": "klue/roberta-base, -large (RobertaModel with one token type, WordPiece BertTokenizer)",
    "xlm-roberta": "xlm-roberta-base, -large (XLMRobertaModel, SentencePiece Unigram, <s> A </s></s> B </s>)",
    "electra": "monologg/koelectra-base-v3 (ElectraModel with embedding_size < hidden_size, WordPiece)",
}


def build_tiny_backbone(
    out_dir: str | os.PathLike[str],
    texts: Iterable[str],
    *,
    family: str = "bert",
    vocab_size: int = 4000,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random ``family`` checkpoint (tokenizer trained on ``texts``) to ``out_dir``; returns the folder."""
    from core.train.model import build_tiny_model, wordpiece_tokenizer

    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; choose one of {', '.join(FAMILIES)}.")
    texts = list(texts)
    if family == "bert":
        return build_tiny_model(
            out_dir, texts, vocab_size=vocab_size, hidden=hidden, layers=layers, heads=heads, seed=seed
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # klue/roberta and KoELECTRA ship WordPiece BertTokenizers (which emit token types); xlm-roberta a Unigram one.
    if family == "xlm-roberta":
        tokenizer = _unigram_tokenizer(texts, vocab_size)
    else:
        tokenizer = wordpiece_tokenizer(texts, vocab_size=vocab_size)
    tokenizer.save_pretrained(out)
    model = _random_model(family, tokenizer, hidden=hidden, layers=layers, heads=heads, seed=seed)
    model.save_pretrained(out)
    return out


def _unigram_tokenizer(texts: list[str], vocab_size: int):
    """An ``XLMRobertaTokenizer`` on a Unigram model trained here (SentencePiece-style: ▁ marks word starts)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import XLMRobertaTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    unigram.train_from_iterator([*texts, *format_vocabulary()], trainer=trainer)
    pieces = [tuple(item) for item in json.loads(unigram.to_str())["model"]["vocab"]]
    return XLMRobertaTokenizer(vocab=pieces, model_max_length=512)


def _random_model(family: str, tokenizer, *, hidden: int, layers: int, heads: int, seed: int):
    import torch
    from transformers import ElectraConfig, ElectraModel, RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel

    common = {
        "vocab_size": len(tokenizer),
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 4 * hidden,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if family == "electra":
        config = ElectraConfig(
            **common, hidden_size=hidden, embedding_size=hidden // 2, max_position_embeddings=512, type_vocab_size=2
        )
        cls = ElectraModel
    else:
        # RoBERTa positions start after the padding index: room for 512 tokens needs pad + 1 + 512 rows.
        positions = 512 + int(tokenizer.pad_token_id) + 1
        config_cls, cls = (
            (XLMRobertaConfig, XLMRobertaModel) if family == "xlm-roberta" else (RobertaConfig, RobertaModel)
        )
        config = config_cls(
            **common,
            hidden_size=hidden,
            max_position_embeddings=positions,
            type_vocab_size=1,
            bos_token_id=tokenizer.bos_token_id if family == "xlm-roberta" else tokenizer.cls_token_id,
            eos_token_id=tokenizer.eos_token_id if family == "xlm-roberta" else tokenizer.sep_token_id,
        )
    with torch.random.fork_rng(devices=[]):  # seed the init without moving the caller's RNG
        torch.manual_seed(seed)
        return cls(config)
