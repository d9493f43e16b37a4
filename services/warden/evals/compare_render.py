"""A comparison as Markdown (CI job summaries, PR comments) and as one self-contained HTML page (people).

Both render the same rows, built once here, so the two can never disagree; the page has inline CSS,
no script, no font and no network, like `warden report`.
"""

from __future__ import annotations

import math
from html import escape

from warden.evals.compare import Comparison, Flip, MetricDelta

MAX_REASONS = 3  # per flipped item; the rest are in the run's results.jsonl

_LABELS = {"success_rate": "success rate", "violation_rate": "violation rate",
           "cost_per_task_usd": "cost per task (USD)", "latency_p95_s": "latency p95 (s)"}


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if metric == "cost_per_task_usd":
        return f"{value:.4f}"
    return f"{value:.3f}"


def _delta(d: MetricDelta) -> str:
    if d.delta is None:
        return "n/a"
    if d.name.endswith("_rate"):
        return f"{d.delta * 100:+.1f} pts"
    rel = d.relative_delta
    shown = "" if rel is None else (" (new)" if math.isinf(rel) else f" ({rel * 100:+.1f}%)")
    return f"{d.delta:+.4f}{shown}" if d.name == "cost_per_task_usd" else f"{d.delta:+.3f}{shown}"


def _limit(d: MetricDelta) -> str:
    if d.limit is None:
        return "not gated"
    if d.name == "success_rate":
        return f"drop ≤ {d.limit * 100:.1f} pts"
    if d.relative:
        return f"increase ≤ {d.limit * 100:.0f}%"
    return f"increase ≤ {d.limit * 100:.1f} pts"


def metric_rows(c: Comparison) -> list[list[str]]:
    return [[_LABELS[d.name], _value(d.name, d.base), _value(d.name, d.candidate), _delta(d), _limit(d),
             "REGRESSED" if d.regressed else "ok"] for d in c.deltas]


def paired_test_line(c: Comparison) -> str:
    t = c.test
    return (f"Exact McNemar test on the {t.paired} items both runs scored: {t.regressions} pass→fail, "
            f"{t.fixes} fail→pass, two-sided p = {t.p_value:.4g}.")


def _reasons(flip: Flip) -> str:
    shown = list(flip.reasons[:MAX_REASONS])
    if len(flip.reasons) > MAX_REASONS:
        shown.append(f"… {len(flip.reasons) - MAX_REASONS} more")
    return "; ".join(shown) or "-"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(c: Comparison) -> str:
    out = [f"## Eval comparison: `{c.base.label}` → `{c.candidate.label}`", "",
           f"**{'❌ ' if c.regressed else '✅ '}{c.verdict}**", ""]
    out += _md_table(["metric", "base", "candidate", "Δ", "limit", ""], metric_rows(c))
    out += ["", paired_test_line(c), ""]
    for warning in c.warnings:
        out += [f"> ⚠ {warning}", ""]
    if c.fingerprint_changes:
        out += ["### Release fingerprint changes", ""]
        out += _md_table(["part", "base", "candidate"], [[p, str(b), str(n)] for p, b, n in c.fingerprint_changes])
        out.append("")
    for title, flips in ((f"Flipped to fail ({len(c.to_fail)})", c.to_fail),
                         (f"Flipped to pass ({len(c.to_pass)})", c.to_pass)):
        if flips:
            out += [f"### {title}", ""]
            out += _md_table(["item", "reasons" if flips is c.to_fail else "base's reasons"],
                             [[f"`{f.id}`", _reasons(f)] for f in flips])
            out.append("")
    if c.new_violations:
        out += [f"### New violations ({len(c.new_violations)})", "",
                ", ".join(f"`{i}`" for i in c.new_violations), ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #dde2ea;padding:.35rem .6rem;
text-align:left;vertical-align:top}th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600}.bad{background:#fde8e8;color:#8a1c1c}
.good{background:#e5f6ea;color:#1d6b34}.warn{background:#fff6dc;padding:.5rem 1rem;border-radius:6px}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
""".strip()


def _html_table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{escape(v)}</td>" for i, v in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(c: Comparison) -> str:
    title = f"<code>{escape(c.base.label)}</code> → <code>{escape(c.candidate.label)}</code>"
    parts = [f"<h1>Eval comparison: {title}</h1>",
             f"<p class='verdict {'bad' if c.regressed else 'good'}'>{escape(c.verdict)}</p>",
             "<h2>Metrics</h2>",
             _html_table(["metric", "base", "candidate", "Δ", "limit", ""], metric_rows(c), {1, 2, 3}),
             f"<p>{escape(paired_test_line(c))}</p>"]
    parts += [f"<p class=warn>{escape(w)}</p>" for w in c.warnings]
    if c.fingerprint_changes:
        parts += ["<h2>Release fingerprint changes</h2>",
                  _html_table(["part", "base", "candidate"],
                              [[p, str(b), str(n)] for p, b, n in c.fingerprint_changes])]
    parts += [f"<h2>Flipped to fail ({len(c.to_fail)})</h2>",
              _html_table(["item", "reasons"], [[f.id, "; ".join(f.reasons) or "-"] for f in c.to_fail])
              if c.to_fail else "<p>None.</p>",
              f"<h2>Flipped to pass ({len(c.to_pass)})</h2>",
              _html_table(["item", "base's reasons"], [[f.id, "; ".join(f.reasons) or "-"] for f in c.to_pass])
              if c.to_pass else "<p>None.</p>",
              f"<h2>New violations ({len(c.new_violations)})</h2>",
              f"<p>{escape(', '.join(c.new_violations)) or 'None.'}</p>"]
    if c.only_base or c.only_candidate:
        parts += ["<h2>Items in one run only</h2>",
                  f"<p>base only: {escape(', '.join(c.only_base)) or '-'}</p>",
                  f"<p>candidate only: {escape(', '.join(c.only_candidate)) or '-'}</p>"]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Eval comparison</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
