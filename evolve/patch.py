"""Patch parsing and application, restricted to EVOLVE-BLOCK regions (docs/evolve.md, Patches).

Two formats are accepted in one LLM response (the exact diff syntax AlphaEvolve uses is not
published; this is the Aider/OpenEvolve conflict-marker syntax, chosen and documented):

SEARCH/REPLACE blocks::

    <<<<<<< SEARCH
    old lines (must occur exactly once, inside an EVOLVE block)
    =======
    new lines
    >>>>>>> REPLACE

Whole-function replacements: a fenced ```python block whose top-level statements are
``def`` s. Each one replaces the function of that name found (with ``ast``) inside an EVOLVE
block; a def whose name does not exist yet is appended as a helper at the end of the block
holding the first replaced function.

The patch is atomic: any failing part rejects the whole patch with a reason (and a
nearest-lines hint for SEARCH texts that match nothing). After the edit the file must parse,
keep every byte outside the blocks and the markers intact, and keep the signatures of the
required functions.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

START = "# EVOLVE-BLOCK-START"
END = "# EVOLVE-BLOCK-END"

_SR = re.compile(r"<{5,9} ?SEARCH[^\n]*\n(.*?)\n?={5,9}[^\n]*\n(.*?)\n?>{5,9} ?REPLACE", re.S)
_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.S)


class PatchError(Exception):
    """The patch was rejected; ``str(exc)`` is the reason fed back into the next prompt."""


@dataclass
class Patch:
    kind: str  # "diff" | "function"
    blocks: list[tuple[str, str]]  # diff: (search, replace); function: (name, source)


def blocks_of(lines: list[str]) -> list[tuple[int, int]]:
    """(start_marker_line, end_marker_line) pairs, 0-based; raises PatchError if malformed."""
    out, open_at = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == START:
            if open_at is not None:
                raise PatchError(f"nested {START} at line {i + 1}")
            open_at = i
        elif s == END:
            if open_at is None:
                raise PatchError(f"{END} without a start at line {i + 1}")
            out.append((open_at, i))
            open_at = None
        elif START in line or END in line:
            raise PatchError(f"marker text altered at line {i + 1}")
    if open_at is not None:
        raise PatchError(f"unclosed {START} at line {open_at + 1}")
    return out


def outside_text(code: str) -> list[str]:
    """The lines outside the blocks, with the markers, as a list of segments per gap."""
    lines = code.split("\n")
    segs, prev = [], 0
    for a, b in blocks_of(lines):
        segs.append("\n".join(lines[prev : a + 1]))
        prev = b
    segs.append("\n".join(lines[prev:]))
    return segs


def parse_response(text: str) -> Patch:
    """Extract a patch from an LLM response; raises PatchError if it holds none."""
    srs = _SR.findall(text)
    if srs:
        return Patch("diff", [(s, r) for s, r in srs])
    if "<<<<<<< SEARCH" in text or ">>>>>>> REPLACE" in text:
        raise PatchError("malformed SEARCH/REPLACE block (need <<<<<<< SEARCH, =======, >>>>>>> REPLACE)")
    funcs = []
    for body in _FENCE.findall(text):
        try:
            mod = ast.parse(body)
        except SyntaxError as exc:
            raise PatchError(f"fenced code does not parse: {exc.msg} (line {exc.lineno})") from None
        lines = body.split("\n")
        for node in mod.body:
            if not isinstance(node, ast.FunctionDef):
                raise PatchError("a whole-function replacement may hold only top-level def statements")
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            funcs.append((node.name, "\n".join(lines[start : node.end_lineno])))
    if funcs:
        return Patch("function", funcs)
    raise PatchError("response holds no SEARCH/REPLACE block and no fenced python function")


def _strip_trailing(lines):
    return [l.rstrip() for l in lines]


def _find(hay: list[str], needle: list[str]) -> list[int]:
    n = len(needle)
    return [i for i in range(len(hay) - n + 1) if hay[i : i + n] == needle]


def _hint(lines: list[str], search: list[str]) -> str:
    first = next((s for s in search if s.strip()), "")
    close = difflib.get_close_matches(first.strip(), [l.strip() for l in lines], n=3, cutoff=0.4)
    return f"; nearest lines: {close}" if close else ""


def _in_block(blocks, a: int, b: int) -> bool:
    return any(s < a and b < e for s, e in blocks)


def _apply_search(lines: list[str], search: str, replace: str) -> list[str]:
    s_lines = search.split("\n")
    while s_lines and not s_lines[-1].strip():
        s_lines.pop()
    while s_lines and not s_lines[0].strip():
        s_lines.pop(0)
    if not s_lines:
        raise PatchError("empty SEARCH text")
    r_lines = replace.split("\n")
    while r_lines and not r_lines[-1].strip():
        r_lines.pop()
    hay = _strip_trailing(lines)
    needle = _strip_trailing(s_lines)
    hits = _find(hay, needle)
    shift = None
    if not hits:
        # Indentation-aware fallback: match with common indentation removed, then re-indent.
        def ind(l):
            return len(l) - len(l.lstrip(" "))

        base = min(ind(l) for l in needle if l.strip())
        rel = [l[base:] if l.strip() else "" for l in needle]
        cands = []
        for i in range(len(hay) - len(rel) + 1):
            window = hay[i : i + len(rel)]
            if not window[0].strip():
                continue
            off = ind(window[0]) - ind(rel[0])
            if off < 0:
                continue
            if all((w[off:] if w.strip() else "") == r and (not w.strip() or w[:off].strip() == "") for w, r in zip(window, rel)):
                cands.append((i, off))
        if len(cands) == 1:
            hits, shift = [cands[0][0]], (cands[0][1], base)
        elif len(cands) > 1:
            hits = [c[0] for c in cands]
    if len(hits) == 0:
        raise PatchError(f"SEARCH text matches nothing: {needle[0].strip()!r}{_hint(lines, needle)}")
    if len(hits) > 1:
        raise PatchError(f"SEARCH text matches {len(hits)} places (must be exactly one): {needle[0].strip()!r}")
    i = hits[0]
    if not _in_block(blocks_of(lines), i, i + len(needle) - 1):
        raise PatchError(f"SEARCH text at line {i + 1} is outside the EVOLVE blocks")
    if shift is not None:
        off, base = shift
        r_lines = [(" " * off + l[base:] if len(l) - len(l.lstrip(" ")) >= base else " " * off + l.lstrip(" ")) if l.strip() else "" for l in r_lines]
    return lines[:i] + r_lines + lines[i + len(needle) :]


def _apply_function(lines: list[str], name: str, source: str, helper_block: list) -> list[str]:
    code = "\n".join(lines)
    mod = ast.parse(code)
    blocks = blocks_of(lines)
    target = None
    for node in mod.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = node.end_lineno - 1
            if _in_block(blocks, start, end):
                target = (start, end)
            else:
                raise PatchError(f"function {name} is outside the EVOLVE blocks")
    new = source.split("\n")
    # Re-indent to column 0 (functions in the blocks are module-level).
    ind = len(new[0]) - len(new[0].lstrip(" "))
    new = [l[ind:] if l[:ind].strip() == "" else l for l in new]
    if target is None:
        if not helper_block:
            raise PatchError(f"function {name} does not exist in an EVOLVE block (new helpers must come with a replaced function)")
        end_marker = blocks[helper_block[0]][1]
        return lines[:end_marker] + [""] + new + [""] + lines[end_marker:]
    a, b = target
    if not helper_block:
        for k, (s, e) in enumerate(blocks):
            if s < a and b < e:
                helper_block.append(k)
    return lines[:a] + new + lines[b + 1 :]


def _signature(node: ast.FunctionDef) -> str:
    return ast.dump(node.args, include_attributes=False)


def check_result(parent: str, child: str, required: tuple[str, ...]) -> None:
    """The post-conditions of docs/evolve.md, Patches; raises PatchError with the first violation."""
    try:
        cmod = ast.parse(child)
    except SyntaxError as exc:
        raise PatchError(f"patched file does not parse: {exc.msg} (line {exc.lineno})") from None
    pl, cl = parent.split("\n"), child.split("\n")
    if len(blocks_of(cl)) != len(blocks_of(pl)):
        raise PatchError("the number of EVOLVE blocks changed")
    if outside_text(parent) != outside_text(child):
        raise PatchError("text outside the EVOLVE blocks changed")
    pmod = ast.parse(parent)
    psig = {n.name: _signature(n) for n in pmod.body if isinstance(n, ast.FunctionDef)}
    csig = {}
    for n in cmod.body:
        if isinstance(n, ast.FunctionDef):
            if n.name in csig:
                raise PatchError(f"function {n.name} is defined twice")
            csig[n.name] = _signature(n)
    for name in required:
        if name not in csig:
            raise PatchError(f"required function {name} is missing")
        if name in psig and csig[name] != psig[name]:
            raise PatchError(f"signature of {name} changed")


def apply_patch(parent: str, patch: Patch | str, required: tuple[str, ...]) -> str:
    """Apply ``patch`` (a Patch or a raw response) to ``parent``; all or nothing."""
    if isinstance(patch, str):
        patch = parse_response(patch)
    lines = parent.split("\n")
    blocks_of(lines)
    if patch.kind == "diff":
        for search, replace in patch.blocks:
            lines = _apply_search(lines, search, replace)
            blocks_of(lines)  # a replacement that corrupts a marker fails here, atomically
    else:
        helper_block: list = []
        names = [n for n, _ in patch.blocks]
        if len(set(names)) != len(names):
            raise PatchError("a function is replaced twice in one patch")
        # Existing functions first, so a new helper knows which block to join.
        existing = {n.name for n in ast.parse(parent).body if isinstance(n, ast.FunctionDef)}
        for name, src in sorted(patch.blocks, key=lambda b: b[0] not in existing):
            lines = _apply_function(lines, name, src, helper_block)
    child = "\n".join(lines)
    check_result(parent, child, required)
    return child


def block_texts(code: str) -> list[str]:
    lines = code.split("\n")
    return ["\n".join(lines[a + 1 : b]) for a, b in blocks_of(lines)]
