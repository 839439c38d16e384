"""Structured output from a chat model: ask for JSON fields, parse them into a Spark struct,
and report the rows whose answer did not follow the format (never drop them silently).

Usage (``fields`` maps each field to its allowed values, case-insensitive, or None for text)::

    fields = {"sentiment": ["positive", "negative"], "topic": None}
    prompt = review + " " + json_instruction(fields)
    parsed = answers.withColumn("parsed", parsed_column("answer.text", fields))
    not_followed(parsed, "id", "parsed")      # {"count", "ids", "problems"}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

Fields = Mapping[str, Sequence[str] | None]


def json_instruction(fields: Fields) -> str:
    """'Answer only with JSON like {...}; x is one of a, b.' for ``fields``."""
    example = {k: (v[0] if v else "...") for k, v in fields.items()}
    rules = [f"{k} is one of: {', '.join(v)}" for k, v in fields.items() if v]
    rules += [f"{k} is a short text" for k, v in fields.items() if not v]
    return f"Answer only with JSON like {json.dumps(example)}. " + "; ".join(rules) + "."


def _first_object(text: str) -> str | None:
    start = text.find("{")
    while start != -1:
        depth = 0
        in_str = esc = False
        for i in range(start, len(text)):
            c = text[i]
            if in_str:
                esc = (c == "\\") and not esc
                if c == '"' and not esc:
                    in_str = False
                continue
            if c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def parse_answer(text: str | None, fields: Fields) -> tuple[dict, str | None]:
    """({field: value or None}, problem or None) from the first JSON object in ``text``; values
    are lower-cased strings."""
    empty = dict.fromkeys(fields)
    if not text:
        return empty, "no answer"
    raw = _first_object(text)
    if raw is None:
        if "{" in text:  # an object that never closes: the answer hit max_new_tokens, usually
            return empty, "JSON object not closed (answer cut short?)"
        return empty, "no JSON object in the answer"
    try:
        obj = json.loads(raw)
    except ValueError as e:
        return empty, f"invalid JSON: {e}"
    if not isinstance(obj, dict):
        return empty, "JSON is not an object"
    missing = [k for k in fields if k not in obj]
    if missing:
        return empty, f"missing field(s) {missing}"
    out = {}
    for k, allowed in fields.items():
        v = obj[k]
        if not isinstance(v, (str, int, float, bool)):
            return empty, f"{k}: expected a value, got {type(v).__name__}"
        v = str(v).strip().lower()
        if allowed and v not in [a.lower() for a in allowed]:
            return empty, f"{k}: {v!r} is not one of {list(allowed)}"
        out[k] = v
    return out, None


def parsed_type(fields: Fields):
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    return StructType(
        [StructField(k, StringType()) for k in fields]
        + [StructField("followed", BooleanType()), StructField("problem", StringType())]
    )


def parsed_column(text_column, fields: Fields):
    """A struct column: the fields (null where the answer did not follow), ``followed`` and
    ``problem``."""
    from pyspark.sql import functions as F

    fields = {k: (list(v) if v else None) for k, v in fields.items()}

    @F.pandas_udf(parsed_type(fields))
    def parse(texts):
        import pandas as pd

        rows = []
        for t in texts:
            values, problem = parse_answer(t, fields)
            rows.append({**values, "followed": problem is None, "problem": problem})
        return pd.DataFrame(rows, columns=[*fields, "followed", "problem"])

    col = F.col(text_column) if isinstance(text_column, str) else text_column
    return parse(col)


def not_followed(df, id_column: str, parsed: str) -> dict:
    """{"count": n, "ids": [...], "problems": {id: problem}} of the rows that did not follow."""
    from pyspark.sql import functions as F

    bad = df.where(~F.col(f"{parsed}.followed")).select(id_column, f"{parsed}.problem")
    rows = sorted(bad.collect(), key=lambda r: r[0])  # no orderBy: it would evaluate df twice
    return {"count": len(rows), "ids": [r[0] for r in rows], "problems": {r[0]: r[1] for r in rows}}
