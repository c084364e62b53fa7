"""ComfyUI prompt weighting syntax.

`(text)` multiplies the weight by 1.1, `(text:1.3)` sets it, groups nest, and `\\(` / `\\)` are literal
parentheses. Unbalanced parentheses are not an error: they are resolved the way ComfyUI's
parser resolves them (a stray `)` opens a negative nesting level that the next `(` closes).
"""

from __future__ import annotations

# Escaped parentheses are swapped for control pairs so the parser does not see them.
_ESC_CLOSE = "\0\1"
_ESC_OPEN = "\0\2"


def escape_important(text: str) -> str:
    return text.replace("\\)", _ESC_CLOSE).replace("\\(", _ESC_OPEN)


def unescape_important(text: str) -> str:
    return text.replace(_ESC_CLOSE, ")").replace(_ESC_OPEN, "(")


def split_top_level(text: str) -> list[str]:
    """Split into plain runs and outermost `( ... )` groups (parentheses kept)."""
    parts: list[str] = []
    current = ""
    depth = 0
    for ch in text:
        if ch == "(":
            if depth == 0:
                if current:
                    parts.append(current)
                current = "("
            else:
                current += ch
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                parts.append(current + ")")
                current = ""
            else:
                current += ch
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def parse_weights(text: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """(segment, weight) pairs for an escaped prompt, left to right."""
    out: list[tuple[str, float]] = []
    for part in split_top_level(text):
        if len(part) >= 2 and part[0] == "(" and part[-1] == ")":
            inner = part[1:-1]
            inner_weight = weight * 1.1
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1 :])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out.extend(parse_weights(inner, inner_weight))
        else:
            out.append((part, weight))
    return out


def weighted_segments(prompt: str) -> list[tuple[str, float]]:
    """Prompt -> (unescaped segment, weight) pairs, as ComfyUI's tokenizer sees them."""
    return [(unescape_important(seg), w) for seg, w in parse_weights(escape_important(prompt), 1.0)]
