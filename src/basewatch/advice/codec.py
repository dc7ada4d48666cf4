"""The versioned wire format of `Advice`, beside it (the models' own is `basewatch.codec`).

`encode_advice` writes every field, and the derived `partial` flags a reader needs; the
`advise --format json` report is this document with the tool named. `decode_advice` checks
everything it reads and raises `basewatch.errors.CodecError`, like the codec of the models.
"""

from __future__ import annotations

from typing import Any

from basewatch.advice.advise import Advice, Recommendation, RecommendationKind
from basewatch.advice.compare import Coverage
from basewatch.codec import (
    boolean,
    check_version,
    decode_base,
    encode_base,
    items,
    member,
    obj,
    optional_integer,
    text,
    texts,
)

ADVICE_SCHEMA = 1  # bump when a field changes meaning, moves or disappears


def encode_recommendation(recommendation: Recommendation) -> dict[str, Any]:
    """Every field ("" digest and note as null), and whether the deltas are partial."""
    r = recommendation
    return {
        "kind": r.kind.value,
        "reference": r.reference,
        "digest": r.digest or None,
        "fixes": list(r.fixes),
        "arrives": list(r.arrives),
        "size_delta": r.size_delta,
        "changed_packages": [
            {"name": n, "current": a, "candidate": b} for n, a, b in r.changed_packages
        ],
        "note": r.note or None,
        "candidate_checked": r.candidate_checked.value,
        "candidate_unchecked": list(r.candidate_unchecked),
        "current_checked": r.current_checked.value,
        "current_unchecked": list(r.current_unchecked),
        "partial": r.partial,
    }


def _nullable_text(data: dict[str, Any], key: str, where: str) -> str:
    return "" if data.get(key) is None else text(data, key, where)


def decode_recommendation(value: object, where: str = "recommendation") -> Recommendation:
    data = obj(value, where)
    changed = []
    for i, item in enumerate(items(data, "changed_packages", where)):
        entry = obj(item, f"{where}.changed_packages[{i}]")
        at = f"{where}.changed_packages[{i}]"
        changed.append(
            (
                text(entry, "name", at, None),
                text(entry, "current", at),
                text(entry, "candidate", at),
            )
        )
    return Recommendation(
        kind=member(RecommendationKind, data, "kind", where),
        reference=text(data, "reference", where, None),
        digest=_nullable_text(data, "digest", where),
        fixes=texts(data, "fixes", where),
        arrives=texts(data, "arrives", where),
        size_delta=optional_integer(data, "size_delta", where),
        changed_packages=tuple(changed),
        note=_nullable_text(data, "note", where),
        candidate_unchecked=texts(data, "candidate_unchecked", where),
        current_unchecked=texts(data, "current_unchecked", where),
        candidate_checked=member(Coverage, data, "candidate_checked", where, Coverage.NO_DATABASE),
        current_checked=member(Coverage, data, "current_checked", where, Coverage.NO_DATABASE),
    )


def encode_advice(advice: Advice) -> dict[str, Any]:
    """The advice as a versioned document; `decode_advice` gives it back."""
    return {
        "schema_version": ADVICE_SCHEMA,
        "image": advice.image,
        "base": encode_base(advice.base) if advice.base else None,
        "recommendations": [encode_recommendation(r) for r in advice.recommendations],
        "rebuild": advice.rebuild,
        "reasons": list(advice.reasons),
        "warnings": list(advice.warnings),
        "not_checked": list(advice.not_checked),
        "partial": advice.partial,
    }


def decode_advice(value: object, what: str = "advice") -> Advice:
    """The advice `encode_advice` wrote; CodecError when the document is not one."""
    data = obj(value, what)
    check_version(data, ADVICE_SCHEMA, what)
    base = data.get("base")
    return Advice(
        image=text(data, "image", what, None),
        base=decode_base(base, f"{what}.base") if base is not None else None,
        recommendations=tuple(
            decode_recommendation(r, f"{what}.recommendations[{i}]")
            for i, r in enumerate(items(data, "recommendations", what))
        ),
        rebuild=boolean(data, "rebuild", what, None),
        reasons=texts(data, "reasons", what),
        warnings=texts(data, "warnings", what),
        not_checked=texts(data, "not_checked", what),
    )
