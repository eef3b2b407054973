"""Held-out templates of identifiers glued to Chinese text, full-width punctuation and labels (issue 16).

These templates are a **test set only**: they were written after the glued-label fix from the shapes the
issue reports (``其na42@qq.com``, ``HKIDB974925(5)``, ``对方E54734173``, unlabelled USCCs) and are never used
to tune a pattern, a context word or a score. ``make eval`` scores them separately from the main corpus
(a separate seed, so the main corpus and its figures do not change) and prints their F2 with the bars.
"""

from __future__ import annotations

import random

from flowwatch_tools.evaluation.corpus import Document, Template, _Gen, _text_document

GLUED_SEED = 20261203
GLUED_N_DOCS = 600

GLUED_TEMPLATES: tuple[Template, ...] = (
    Template("glued_email", (
        "请联系其{email}确认退款，对方{email#2}已回复。",
        "客户反馈：其邮箱{email}收不到验证码，改用对方{email#2}。",
        "【邮箱】{email}【备用】{email#2}",
    )),
    Template("glued_hk", (
        "申请人{name}，HKID{hkid}，内地手机{mobile}。",
        "持证人{name}（HKID{hkid}），持港澳通行证{permit_hm}入境。",
        "香港身份证号码：{hkid}；联系电话：{mobile}。",
    )),
    Template("glued_passport", (
        "护照信息：对方{passport}，入境日期{date}。",
        "核对护照号码，其{passport}与系统一致，持照人{name}。",
        "旅客护照No.{passport}，手机{mobile}，邮箱{email}。",
    )),
    Template("glued_uscc", (
        "合作方{company}{uscc}已签约，联系人{name}，电话{mobile}。",
        "供应商统一社会信用代码{uscc}，开票信息见附件。",
        "甲方：{company}（{uscc}），经办人{name}。",
    )),
    Template("glued_labels", (
        "IDNo{id}，Tel{mobile}，卡号{card}。",
        "证件ID{id}；Mobile{mobile}；开户人{name}。",
        "客户{name}，身份证{id}的持有人，其手机{mobile}已验证。",
    )),
    Template("glued_brackets", (
        "【客户】{name}【身份证】{id}【手机】{mobile}【地址】{address}",
        "「收件人」{name}「电话」{mobile}「邮箱」{email}",
        "（手机{mobile}）（邮箱{email}）（车牌{plate}）",
    )),
    Template("glued_net", (
        "用户{name}于{ts}从{ip}登录，其手机{mobile}收到验证码。",
        "定位坐标{coord}，司机{name}，车牌{plate}。",
        "登录地址：{ip}；绑定邮箱：{email}；手机：{mobile}。",
    )),
    Template("glued_hmt", (
        "台胞证{permit_tw}，台湾身份证{twid}，联系人{name}。",
        "对方澳门身份证{moid}，回乡证{permit_hm}，手机{mobile}。",
        "旅客{name}持台湾居民来往大陆通行证{permit_tw}，身份证{twid}。",
    )),
    Template("glued_landline", (
        "公司座机{landline}，传真{landline#2}，联系人{name}。",
        "请拨打其办公电话{landline}或手机{mobile}。",
    )),
)  # fmt: skip


def generate_glued_corpus(seed: int = GLUED_SEED, n_docs: int = GLUED_N_DOCS) -> list[Document]:
    """``n_docs`` labelled text documents from ``GLUED_TEMPLATES`` (round robin), all in split ``"test"``;
    deterministic for ``seed``. Document ids are ``glued-00000``…. Raises ``ValueError`` for ``n_docs < 0``."""
    if n_docs < 0:
        raise ValueError("n_docs must be >= 0")
    gen = _Gen(random.Random(seed))
    return [
        _text_document(gen, GLUED_TEMPLATES[i % len(GLUED_TEMPLATES)], f"glued-{i:05d}", "test")
        for i in range(n_docs)
    ]
