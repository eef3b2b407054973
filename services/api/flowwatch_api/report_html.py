"""The regulator report of an incident from a Jinja2 template, as HTML and as PDF
(``GET /v1/incidents/{id}/report.html`` and ``/report.pdf``).

Same data as the JSON report: the grade (2025 Reporting Measures' grading guide), the report contents
(数据数量、类型、可能的影响、处置措施; follow-up: 原因、危害后果、责任处理、改进措施), the obligations with
their deadlines (Asia/Shanghai) and legal basis — binding law (法定义务) in one table, Flowwatch policy
(内部政策, the 2021 draft's clocks) in another, estimated deadlines marked — the PIPL Art. 57 notice to
individuals, and the rule packs with every article the report relies on. Headings are Chinese with English.

The template is ``templates/report.html`` (package data), rendered with autoescaping: every value is
HTML-escaped. The page has no script and no external resource and prints on A4. The PDF is the same HTML laid
out by WeasyPrint (Pango, fonts from fontconfig): Chinese needs a CJK font installed — Debian
``fonts-noto-cjk`` or ``fonts-wqy-microhei`` (the stylesheet asks for Noto Sans CJK SC, then Source Han Sans
SC, then WenQuanYi Micro Hei).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from flowwatch.incidents.models import IncidentRecord
from flowwatch.wire import CHINA

OBLIGATION_NAMES = {
    "regulator_report": "向主管部门报告 Report to the regulator",
    "followup_report": "调查评估报告 Follow-up report",
    "notify_individuals": "通知个人 Notify individuals",
    "supplementary_report": "补充报告 Supplementary report",
    "summary_report": "总结报告 Handling summary report",
    "vulnerability_report": "缺陷漏洞报告 Defect / vulnerability report",
}
STATUS_NAMES = {
    "pending": "待履行 pending", "done": "已完成 done", "overdue": "已逾期 overdue", "waived": "已豁免 waived",
    "not_applicable": "不适用 not applicable",
}
MISSING = Markup('<span class="missing">未提供 not supplied</span>')


def value_text(value: object) -> object:
    """Template filter ``v``: a value as shown (missing → a marked "not supplied", booleans 是/否, instants in
    Beijing time, lists joined with 、); strings are escaped by the template's autoescaping."""
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S（北京时间 UTC+8）")
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescaping on, undefined names are errors)."""
    from jinja2 import StrictUndefined

    env = Environment(loader=PackageLoader("flowwatch_api", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["v"] = value_text
    return env


def articles_of(record: IncidentRecord) -> list[str]:
    """Every distinct ``《document》article`` the report relies on (report basis, then obligations), in order."""
    cites = [*(record.report.legal_basis if record.report else []),
             *(ob.legal_basis for ob in record.obligations if ob.triggered)]
    out: list[str] = []
    for c in cites:
        text = f"《{c.document}》{c.article}"
        if text not in out:
            out.append(text)
    return out


def render_report(record: IncidentRecord, generated_at: datetime, masked: bool) -> str:
    """The report page of ``record`` (obligations as served: call with the record as of ``generated_at``).
    ``masked`` adds the note that PI in free text is masked (regulator keys)."""
    return environment().get_template("report.html").render(
        record=record, generated_at=generated_at, masked=masked, articles=articles_of(record),
        obligation_names=OBLIGATION_NAMES, status_names=STATUS_NAMES)


def render_pdf(html: str) -> bytes:
    """The PDF (A4) of a report page rendered by ``render_report``. Raises OSError when WeasyPrint's system
    libraries (Pango) are missing."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
