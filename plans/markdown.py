"""The markdown rendering of a plan (a pull-request comment), from templates/plan.md.j2."""

from __future__ import annotations

import jinja2

from hostform.plans.escape import Verbatim, markdown_cell_code, markdown_code, markdown_fenced, markdown_text
from hostform.plans.model import Action, Plan
from hostform.plans.render import MARKS, counted, mark_of, shown_reasons


def _env() -> jinja2.Environment:
    """Every `{{ }}` is plain markdown text unless a filter escaped it for another place (plans.escape)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hostform.templates", ""),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=markdown_text,
    )
    env.filters.update(code=markdown_code, cellcode=markdown_cell_code, fenced=markdown_fenced)
    return env


def _diff_mark(action: Action) -> str:
    return {Action.CREATE: "+", Action.DELETE: "-", Action.REPLACE: "!"}.get(action, "!")


def render_markdown(plan: Plan) -> str:
    template = _env().get_template("plan.md.j2")
    risky = [(c.address, r) for c in plan.actionable for r in c.risks]
    return (
        template.render(
            plan=plan,
            summary=Verbatim(plan.summary()),  # hostform's own words and marks: shown as they are
            marks=MARKS,
            mark=lambda c: Verbatim(mark_of(c)),
            diff_mark=_diff_mark,
            risky=risky,
            counted=lambda n, noun: Verbatim(counted(n, noun)),
            reasons=lambda c: shown_reasons(plan, c),
        ).rstrip()
        + "\n"
    )
