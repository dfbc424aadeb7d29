"""Attention maps of one example and bertviz's views of them as a self-contained, safe HTML page.

:func:`attention` returns the attention maps (layers x heads x tokens x tokens) with an optional layer and
token limit for long inputs; :func:`bertviz_html` renders bertviz's head view or model view with
require.js, d3 and jQuery inlined from :data:`ASSET_DIR` (``assets/vendor``, ``make assets``), so nothing
is fetched from a CDN, and every token reaches the page as :func:`safe_json` (``<``, ``>``, ``&``
escaped), so a token cannot close the script it sits in. It is separate from the attributions because
it is a different question (where the model looks, not what changes its answer) and the only part of
Explain that writes HTML; bertviz is imported inside :func:`bertviz_html`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.analysis.explain_encoding import EncodedExample, Example, encode_example
from core.analysis.explain_load import Explainer

__all__ = ["ASSET_DIR", "AttentionMaps", "attention", "bertviz_html", "safe_json"]

#: Where ``make assets`` puts require.js, d3 and jQuery.
ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "vendor"
VENDOR_FILES: tuple[tuple[str, str], ...] = (
    ("d3", "d3.min.js"),
    ("jquery", "jquery.min.js"),
    ("requirejs", "require.js"),
)


# -- attention ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionMaps:
    """What :func:`attention` found for one example.

    Attributes
    ----------
    tokens
        The tokens shown (the window of ``token_range``).
    attention
        float32 array, layers x heads x tokens x tokens (the chosen layers, the shown tokens).
    layers
        The model's numbers of the chosen layers, ascending.
    n_layers, n_heads
        How many layers the model has; heads per layer.
    token_range
        ``(lo, hi)``: the shown tokens are ``lo..hi-1`` of the encoded input.
    sentence_b_start
        Where the second segment starts among the shown tokens (None without one, or outside the window).
    note
        What was left out (and the encoding's own note), for a caption; empty when nothing was.
    """

    tokens: tuple[str, ...]
    attention: np.ndarray
    layers: tuple[int, ...]
    n_layers: int
    n_heads: int
    token_range: tuple[int, int]
    sentence_b_start: int | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (``attention`` stays a numpy array; the lists are lists)."""
        return {
            "tokens": list(self.tokens),
            "attention": self.attention,
            "layers": list(self.layers),
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "token_range": self.token_range,
            "sentence_b_start": self.sentence_b_start,
            "note": self.note,
        }


def attention(
    explainer: Explainer,
    example: Example | EncodedExample,
    *,
    layers: Sequence[int] | None = None,
    max_tokens: int | None = None,
) -> AttentionMaps:
    """Attention maps of the chosen layers as a float32 array (layers x heads x tokens x tokens).

    ``max_tokens`` limits a long input to a window of tokens around the entities (the full rows are
    computed; the shown block is cut out of them, so the weights are the model's, not renormalised);
    ``note`` says what was left out.
    """
    encoded = example if isinstance(example, EncodedExample) else encode_example(explainer, example)
    with explainer.lock, torch.inference_mode():
        pair = explainer.type_pair(encoded.example.subj_type, encoded.example.obj_type)
        out = explainer.forward(*encoded.tensors(device=explainer.device), output_attentions=True, type_pair=pair)
    maps = out.attentions
    if not maps or maps[0] is None:
        raise ValueError(f"{explainer.name}: the model returned no attention maps (load it with eager attention).")
    n_layers = len(maps)
    chosen = list(range(n_layers)) if layers is None else sorted({int(x) for x in layers if 0 <= int(x) < n_layers})
    if not chosen:
        raise ValueError(f"Choose at least one layer in 0..{n_layers - 1}.")
    stack = torch.stack([maps[i][0] for i in chosen]).float().cpu().numpy()
    n = len(encoded)
    lo, hi = 0, n
    notes = [encoded.note] if encoded.note else []
    if max_tokens is not None and n > max_tokens:
        centre = (min(encoded.subj_pos, encoded.obj_pos) + max(encoded.subj_pos, encoded.obj_pos)) // 2
        lo = max(0, min(n - max_tokens, centre - max_tokens // 2))
        hi = lo + max_tokens
        stack = stack[:, :, lo:hi, lo:hi]
        notes.append(f"Showing tokens {lo}–{hi - 1} of {n} (around the entities) to keep the view responsive.")
    if len(chosen) < n_layers:
        notes.append(f"Showing {len(chosen)} of {n_layers} layers.")
    b_start = encoded.sentence_b_start
    if b_start is not None:
        b_start = b_start - lo if lo < b_start < hi else None
    return AttentionMaps(
        tokens=tuple(encoded.tokens[lo:hi]),
        attention=stack,
        layers=tuple(chosen),
        n_layers=n_layers,
        n_heads=int(stack.shape[1]),
        token_range=(lo, hi),
        sentence_b_start=b_start,
        note=" ".join(notes),
    )


def safe_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: ``<``, ``>``, ``&`` and the JS line separators escaped.

    ``json.dumps`` alone leaves ``</script>`` (and ``<!--``) intact, which would end the script early and
    let a token become markup.
    """
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _vendor_scripts(asset_dir: Path) -> str:
    missing = [name for _, name in VENDOR_FILES if not (asset_dir / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{asset_dir}: {', '.join(missing)} missing; run `make assets` (npm) to install the browser libraries "
            "the attention views need."
        )
    # An AMD loader already on the page (a re-used window) would make d3 an anonymous module: hide it
    # while d3 and jQuery load, so they always become globals.
    parts = ["<script>window.__reStudioDefine = window.define; window.define = undefined;</script>"]
    for _, name in VENDOR_FILES:
        if name == "require.js":
            parts.append("<script>window.define = window.__reStudioDefine;</script>")
        # d3 and jQuery load before require.js, so they become globals instead of anonymous AMD modules
        # (an anonymous define() in an inline script is an error for require.js).
        source = (asset_dir / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
        parts.append(f"<script>\n{source}\n</script>")
    parts.append(
        "<script>define('d3', [], function () { return window.d3; });"
        "define('jquery', [], function () { return window.jQuery; });</script>"
    )
    return "\n".join(parts)


_REQUIRE_TAG = re.compile(r"<script src=\"https://[^\"]*require[^\"]*\"></script>")
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.S)


def bertviz_html(
    data: AttentionMaps,
    *,
    view: str = "head",
    layer: int | None = None,
    heads: Sequence[int] | None = None,
    display_mode: str = "light",
    asset_dir: str | os.PathLike[str] = ASSET_DIR,
) -> str:
    """A self-contained HTML page with bertviz's head view or model view for :func:`attention`'s output.

    bertviz builds the page; this function (1) hands it placeholder tokens and puts the real tokens in
    afterwards as :func:`safe_json` strings, so no token can break out of the script, and (2) replaces
    the CDN require.js tag and bertviz's ``require.config`` CDN paths by the inlined local libraries.
    Raises ``FileNotFoundError`` (with the fix) when ``assets/vendor`` is missing.
    """
    from bertviz import head_view, model_view
    from bertviz.util import format_special_chars

    if view not in ("head", "model"):
        raise ValueError(f"view must be 'head' or 'model', got {view!r}.")
    tokens = format_special_chars(list(data.tokens))
    tag = uuid.uuid4().hex
    placeholders = [f"\x00{tag}:{i}\x00" for i in range(len(tokens))]
    # float64 after rounding: bertviz's tolist() then writes 0.123, not 0.12300000339746475 (3x smaller page).
    attn = torch.from_numpy(np.round(np.asarray(data.attention, dtype=np.float64), 4))
    per_layer = [attn[i][None] for i in range(attn.shape[0])]
    layers = list(data.layers)
    kwargs: dict[str, Any] = {
        "attention": per_layer,
        "tokens": placeholders,
        "sentence_b_start": data.sentence_b_start,
        "html_action": "return",
    }
    if view == "head":
        pos = layers.index(layer) if layer in layers else None
        page = head_view(**kwargs, prettify_tokens=False, layer=pos, heads=list(heads) if heads else None).data
    else:
        page = model_view(**kwargs, prettify_tokens=False, display_mode=display_mode).data
    for ph, token in zip(placeholders, tokens, strict=True):
        page = page.replace(json.dumps(ph), safe_json(token))
    # bertviz numbers the chosen layers 0..n-1; show the model's own layer numbers instead.
    page = page.replace(
        '"include_layers": ' + json.dumps(list(range(len(per_layer)))), '"include_layers": ' + json.dumps(layers)
    )
    page = _REQUIRE_TAG.sub("", page)
    page = _REQUIRE_CONFIG.sub("", page, count=1)
    if re.search(r"""src=["']https?:|paths:\s*\{|cdnjs""", page):
        raise RuntimeError("bertviz's page still refers to a remote script; the offline rewrite needs updating.")
    head = _vendor_scripts(Path(asset_dir))
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>attention</title></head>'
        f'<body style="margin:0">{head}\n{page}</body></html>'
    )
