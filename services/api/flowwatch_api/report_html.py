"""Printable HTML of an incident's regulator report (``GET /v1/incidents/{id}/report.html``).

Same data as the JSON report: the grade (2025 Reporting Measures' grading guide), the report contents
(数据数量、类型、可能的影响、处置措施; follow-up: 原因、危害后果、责任处理、改进措施), the obligations with
their deadlines (Asia/Shanghai) and legal basis — binding law (法定义务) in one table, Flowwatch policy
(内部政策, the 2021 draft's clocks) in another, estimated deadlines marked — and the PIPL Art. 57 notice to
individuals. Headings are Chinese with English. Every value is HTML-escaped; the page has no script and no
external resource, and prints on A4.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from flowwatch.incidents.models import IncidentRecord
from flowwatch.rules.incident_pack import Citation

CHINA = ZoneInfo("Asia/Shanghai")

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
CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2em;color:#111}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:2px solid #333;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #999;padding:.35em .5em;
text-align:left;vertical-align:top}th{background:#eee;width:28%}.missing{color:#a00}.muted{color:#555;font-size:.9em}
.overdue{color:#a00;font-weight:bold}@media print{body{margin:0}a{color:inherit;text-decoration:none}
h2{page-break-after:avoid}table{page-break-inside:avoid}}@page{size:A4;margin:18mm}
"""


def _v(value: object) -> str:
    if value is None or value == "" or value == []:
        return '<span class="missing">未提供 not supplied</span>'
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, datetime):
        return escape(value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S（北京时间 UTC+8）"))
    if isinstance(value, list):
        return escape("、".join(str(v) for v in value))
    return escape(str(value))


def _rows(rows: list[tuple[str, object]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{_v(v)}</td></tr>" for k, v in rows) + "</table>"


def _cite(c: Citation) -> str:
    quote = f"：“{escape(c.quote)}”" if c.quote else ""
    return f"《{escape(c.document)}》{escape(c.article)}{quote}"


def render_report(record: IncidentRecord, generated_at: datetime, masked: bool) -> str:
    """The report page of ``record`` (obligations as served: call with the record as of ``generated_at``).
    ``masked`` adds the note that PI in free text is masked (regulator keys)."""
    r, n = record.report, record.notice
    parts = [
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>个人信息安全事件报告 {escape(record.incident_id)}</title><style>{CSS}</style></head><body>",
        "<h1>个人信息安全事件报告<br><small>Personal information security incident report</small></h1>",
        f"<p class=\"muted\">生成时间 Generated: {_v(generated_at)}"
        + ("；文中个人信息已去标识化显示 (PI masked)" if masked else "") + "</p>",
        "<h2>事件概况 Incident</h2>",
        _rows([
            ("个人信息处理者 Processor", f"{record.processor_name or ''} ({record.processor_id})"),
            ("事件编号 Incident id", record.incident_id), ("事件类型 Type", record.type),
            ("状态 Status", record.status), ("发生时间 Occurred", record.occurred_at),
            ("发现时间 Detected", record.detected_at),
            ("事件级别 Grade", f"{record.grade}（{record.grade_reason}）" if record.grade else None),
            ("适用规则 Rule packs", [f"{p.id}（{'法律 law' if p.kind == 'law' else '内部政策 policy'}）"
                                     for p in record.packs]),
        ]),
    ]
    if r is not None:
        parts += [
            "<h2>报告内容 Report contents</h2>",
            _rows([
                ("涉及的数据数量（人数）Persons", f"{r.quantity_persons:,}（{'去重计数 counted' if r.quantity_basis == 'counted' else '申报数 declared'}）"),  # noqa: E501
                ("其中敏感个人信息 Sensitive PI persons", f"{r.sensitive_persons:,}"),
                ("记录数 Records", r.quantity_records), ("数据类型 Data types", r.data_types),
                ("涉及重要数据 Important data", r.important_data),
                ("重要数据目录 Catalogue refs", r.important_data_refs),
                ("可能的影响 Possible impact", r.possible_impact), ("已经或拟采取的处置措施 Measures", r.measures),
            ]),
            "<h2>调查评估报告 Follow-up report</h2>",
            _rows([("事件原因 Cause", r.cause), ("危害后果 Consequences", r.consequences),
                   ("责任处理 Accountability", r.accountability), ("改进措施 Improvements", r.improvements)]),
            "<p>法律依据 Legal basis：" + "；".join(_cite(c) for c in r.legal_basis) + "</p>",
        ]
        if r.missing:
            missing = escape("、".join(r.missing))
            parts.append(f"<p class=\"missing\">尚需处理者补充 Still to be supplied：{missing}</p>")
    for binding, heading in ((True, "法定义务 Obligations under the law in force"),
                             (False, "内部政策 Flowwatch policy (not binding law: the 2021 draft's clocks)")):
        rows = [ob for ob in record.obligations if ob.triggered and ob.binding is binding]
        if not rows:
            continue
        parts.append(f"<h2>{escape(heading)}</h2><table><tr><th>义务 Obligation</th><th>期限 Due</th>"
                     "<th>状态 Status</th><th>法律依据 Legal basis</th></tr>")
        for ob in rows:
            cls = ' class="overdue"' if ob.status == "overdue" else ""
            due = _v(ob.due_at) if ob.due_at else escape("无法定时限 no figure（立即/及时）")
            if ob.estimated:
                due += '<br><span class="missing">估算 estimated（调休安排未发布 arrangement not published）</span>'
            parts.append(
                f"<tr><td>{escape(OBLIGATION_NAMES.get(ob.id, ob.id))}<br><span class=\"muted\">{escape(ob.period)}"
                f" · {escape(ob.pack_id)}</span></td><td>{due}</td>"
                f"<td{cls}>{escape(STATUS_NAMES.get(ob.status, ob.status))}"
                f"{'：' + _v(ob.done_at) if ob.done_at else ''}</td><td>{_cite(ob.legal_basis)}</td></tr>"
            )
        parts.append("</table>")
    if n is not None:
        parts += [
            "<h2>告知个人 Notice to individuals（个人信息保护法第五十七条）</h2>",
            _rows([("信息种类 Information types", n.information_types), ("原因 Cause", n.cause),
                   ("可能造成的危害 Possible harm", n.possible_harm),
                   ("补救措施 Remedial measures", n.remedial_measures),
                   ("个人可以采取的措施 What individuals can do", n.what_individuals_can_do),
                   ("处理者联系方式 Contact", n.processor_contact)]),
        ]
    parts.append("</body></html>")
    return "".join(parts)
