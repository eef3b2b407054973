/* Flowwatch web UI for SOC analysts: a dependency-free single-page app (no build step, no CDN).
 *
 * - The API key is asked for once per browser tab (sessionStorage) and sent as "Authorization: Bearer" on every
 *   /v1 call; a 401 brings the key prompt back with a message, a 403 says the role may not do this.
 * - GET /v1/me (once per key) says who is signed in (shown in the header) and what the role may do: the triage
 *   buttons are only offered to a role that may triage (the API still answers 403 to any other).
 * - Hash routes: #/alerts, #/incidents, #/incidents/<id>?processor_id=…, #/exports, #/findings,
 *   #/findings/list?<filters> (from a chart bar, an entity type or an alert), #/findings/item/<id>, #/audit,
 *   #/dead-letters, #/notifications.
 * - Alert titles and messages are the server's texts.zh / texts.en (message catalogue), by UI language.
 * - Every visible string comes from FW_I18N (i18n.js): zh-CN by default, English by the 中文/English button
 *   (choice kept in localStorage). Times are shown in Beijing time (the legal deadlines are Beijing time).
 * - DOM is built with createElement only (no innerHTML of data). Stable ids / data-testid for the browser tests.
 */
(function () {
  'use strict';

  const I18N = window.FW_I18N;
  const LANG_STORE = 'flowwatch.lang';
  const KEY_STORE = 'flowwatch.apiKey';
  const TZ = 'Asia/Shanghai';
  const PAGE_SIZE = 50;
  const API_BASE = location.pathname.replace(/\/ui(\/.*)?$/, '');

  const SEVERITIES = ['critical', 'high', 'medium', 'low'];
  const ALERT_STATUSES = ['open', 'acknowledged', 'resolved', 'suppressed'];
  const ALERT_TYPES = [
    'obligation_due_soon', 'obligation_overdue', 'export_unknown_destination', 'export_threshold_crossed',
    'export_exemption_doubtful', 'export_restricted_recipient', 'export_mechanism_missing',
    'export_assessment_expired', 'export_assessment_renewal', 'export_important_data_without_assessment',
    'export_gba_outside_scope'
  ];
  /** Sort orders offered ('' = the service's default, newest first). */
  const ALERT_SORTS = ['', '-last_raised_at', '-count', 'due_at'];
  const OB_STATUSES = ['pending', 'overdue', 'done', 'waived', 'not_applicable'];
  const INCIDENT_TYPES = ['leak', 'tamper', 'destroy', 'loss', 'theft', 'illegal_use', 'unauthorized_transfer'];
  const MECHANISMS = ['none', 'standard_contract', 'certification', 'security_assessment', 'gba_standard_contract'];
  const RANGES = ['7', '30', '90'];
  /** Triage actions allowed from each (effective) alert status. */
  const TRIAGE = {
    open: ['acknowledge', 'assign', 'resolve', 'suppress'],
    acknowledged: ['assign', 'resolve', 'suppress', 'reopen'],
    resolved: ['reopen'],
    suppressed: ['acknowledge', 'resolve', 'reopen']
  };

  let lang = localStorage.getItem(LANG_STORE) === 'en' ? 'en' : 'zh';
  let current = null;   // the view on screen: {render()}
  let routeSeq = 0;     // guards against a slow load rendering over a newer route
  let loginMessage = null;
  let me = null;          // GET /v1/me of the stored key: {key_id, name, role, processor_id, may_triage, …}
  let mePromise = null;   // the pending or settled GET /v1/me of meFor
  let meFor = null;       // the key that me / mePromise belong to

  // ------------------------------------------------------------------------------------------------
  // i18n and formatting
  // ------------------------------------------------------------------------------------------------

  function t(key, params) {
    let s = I18N[lang][key];
    if (s === undefined) s = I18N.zh[key] !== undefined ? I18N.zh[key] : key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined && params[k] !== null ? String(params[k]) : m));
    return s;
  }

  /** Label of an API enum value ("<group>.<value>" in the dictionary), else the value itself. */
  function label(group, value) {
    if (value === null || value === undefined || value === '') return t('common.dash');
    const s = I18N[lang][group + '.' + value];
    return s === undefined ? String(value) : s;
  }

  function locale() { return lang === 'zh' ? 'zh-CN' : 'en-GB'; }
  function fmtNum(n) { return (n === null || n === undefined) ? t('common.dash') : Number(n).toLocaleString(locale()); }
  function pad(n) { return String(n).padStart(2, '0'); }

  function parts(date, timeZone) {
    const out = {};
    new Intl.DateTimeFormat('en-CA', {
      timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
      second: '2-digit', hourCycle: 'h23'
    }).formatToParts(date).forEach((p) => { out[p.type] = p.value; });
    return out;
  }

  /** "YYYY-MM-DD HH:MM:SS" in Beijing time, or "—". */
  function fmtTime(iso) {
    if (!iso) return t('common.dash');
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = parts(d, TZ);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }

  /** "YYYY-MM-DD" of an instant in UTC (the buckets of the findings histogram are UTC days). */
  function fmtUtcDay(iso) {
    const p = parts(new Date(iso), 'UTC');
    return `${p.year}-${p.month}-${p.day}`;
  }

  /** Countdown text to dueMs from nowMs: hh:mm:ss, with days beyond 24 h; "overdue by …" once past. */
  function countdownText(dueMs, nowMs) {
    const diff = dueMs - nowMs;
    let s = Math.floor(Math.abs(diff) / 1000);
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const clock = `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
    const time = d > 0 ? t('countdown.days', { d, clock }) : clock;
    return diff < 0 ? t('countdown.overdue', { time }) : t('countdown.remaining', { time });
  }

  /** A deadline in Beijing time; an end-of-day deadline reads "24:00:00" of its day (截止当日24时). */
  function fmtDue(iso) {
    if (!iso) return t('common.dash');
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = parts(d, TZ);
    if (p.hour === '00' && p.minute === '00' && p.second === '00') {
      const q = parts(new Date(d.getTime() - 1000), TZ);
      return `${q.year}-${q.month}-${q.day} 24:00:00`;
    }
    return fmtTime(iso);
  }

  /** The rule engine's trigger reason (English, structured) in the UI language; unknown parts as sent. */
  function triggerText(reason) {
    if (!reason) return t('common.dash');
    const fixed = {
      'important data involved': 'trigger.importantData', 'no important data': 'trigger.noImportantData',
      'incident harms individuals': 'trigger.harm', 'no harm to individuals': 'trigger.noHarm',
      'every incident': 'trigger.always', 'the report was made with items missing': 'trigger.reportIncomplete',
      'no report made with items missing': 'trigger.reportComplete',
      'not flagged as a defect endangering national security': 'trigger.noDefect',
      'a defect or vulnerability endangering national security or the public interest': 'trigger.defect'
    };
    const atom = (a) => {
      a = a.trim();
      if (fixed[a]) return t(fixed[a]);
      const g = /^grade (\S+) (>=|<) (\S+)$/.exec(a);
      if (g) return t(g[2] === '>=' ? 'trigger.gradeAtLeast' : 'trigger.gradeBelow', { grade: g[1], limit: g[3] });
      const m = /^([\d,]+) persons \((counted|declared)\) (>=|<) ([\d,]+)$/.exec(a);
      if (m) {
        return t(m[3] === '>=' ? 'trigger.personsAtLeast' : 'trigger.personsBelow',
          { n: m[1], basis: t('incident.personsBasis.' + m[2]), limit: m[4] });
      }
      return a;
    };
    let m = /^none of: (.*)$/.exec(reason);
    if (m) return t('trigger.noneOf', { list: m[1].split('; ').map(atom).join(t('common.listSep')) });
    m = /^not all of: (.*)$/.exec(reason);
    if (m) return t('trigger.notAllOf', { list: m[1].split('; ').map(atom).join(t('common.listSep')) });
    return reason.split(' and ').map(atom).join(t('trigger.and'));
  }

  /** An obligation note of the rule engine in the UI language; unknown notes as sent. */
  function noteText(note) {
    let m = /^clock not started: (\w+) not yet known$/.exec(note);
    if (m) return t('ob.noteClock', { clock: label('clock', m[1]) });
    m = /^PRC holiday calendar unknown for (\d+); Monday.Friday assumed$/.exec(note);
    if (m) return t('ob.noteCalendar', { year: m[1] });
    m = /^estimated: no published holiday arrangement for (\d+);/.exec(note);
    if (m) return t('ob.noteEstimated', { year: m[1] });
    m = /^the text sets no time limit/.exec(note);
    if (m) return t('ob.noteNoFigure');
    m = /^reporting class: (\w+) \(/.exec(note);
    if (m) return t('ob.noteClass', { cls: label('operatorClass', m[1]) });
    m = /^waiver void: the regulator required notice \((.+)\)$/.exec(note);
    if (m) return t('ob.noteWaiverVoid', { article: m[1] });
    return note;
  }

  /** A timeline line of the incident agent in the UI language; unknown lines as sent. */
  function timelineText(what) {
    const m = /^incident event: (\d+) person keys(, handling completed)?$/.exec(what || '');
    if (m) return t('timeline.event', { n: m[1] }) + (m[2] ? t('timeline.handlingCompleted') : '');
    if (what === 'marked') return t('timeline.marked');
    return (what || '').split('; ').map((part) => {
      const set = /^(reported_at|followup_reported_at|notified_at|supplementary_reported_at|summary_reported_at|vulnerability_reported_at) set$/.exec(part);
      if (set) return t('timeline.set.' + set[1]);
      const w = /^(\w+) waived: (.*)$/.exec(part);
      if (w) return t('timeline.waived', { obligation: label('obligation', w[1]), reason: w[2] });
      return part;
    }).join(t('common.listSep'));
  }

  function periodText(period) {
    let m = /^(\d+) hours?$/.exec(period || '');
    if (m) return t('period.hours', { n: m[1] });
    m = /^(\d+) working days?$/.exec(period || '');
    if (m) return t('period.workingDays', { n: m[1] });
    m = /^(\d+) days?$/.exec(period || '');
    if (m) return t('period.days', { n: m[1] });
    if (/^immediately/.test(period || '')) return t('period.immediately');
    return period || t('common.dash');
  }

  function citation(c) {
    if (!c) return t('common.dash');
    return `${c.document} ${c.article}`;
  }

  // ------------------------------------------------------------------------------------------------
  // DOM helpers
  // ------------------------------------------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }

  function s(tag, attrs, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'style') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
  }

  const main = () => document.getElementById('main');

  function mount(...nodes) {
    main().replaceChildren(...nodes.flat().filter(Boolean));
  }

  function applyStatic() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll('[data-i18n-attr]').forEach((el) => {
      el.dataset.i18nAttr.split(';').forEach((pair) => {
        const [attr, key] = pair.split(':');
        el.setAttribute(attr, t(key));
      });
    });
  }

  let toastTimer = null;
  function toast(message, kind) {
    const el = document.getElementById('toast');
    el.textContent = message;
    el.dataset.kind = kind || 'info';
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 10000 : 5000);
  }

  function badge(group, value, extraClass) {
    return h('span', { class: `badge ${group}-${value} ${extraClass || ''}`.trim(), 'data-value': value }, label(group, value));
  }

  function select(id, groupOrLabels, values, selected, withAny) {
    const el = h('select', { id, name: id });
    if (withAny) el.append(h('option', { value: '' }, t('common.any')));
    for (const v of values) {
      const text = typeof groupOrLabels === 'function' ? groupOrLabels(v) : label(groupOrLabels, v);
      el.append(h('option', { value: v, selected: v === selected }, text));
    }
    return el;
  }

  function field(labelKey, control) {
    return h('label', { class: 'field', for: control.id }, h('span', { class: 'field-label' }, t(labelKey)), control);
  }

  /** Page size of a list: "size" of the hash query (1–500), else PAGE_SIZE. */
  function pageSizeOf(query) {
    const n = Number(query.get('size'));
    return Number.isInteger(n) && n >= 1 && n <= 500 ? n : PAGE_SIZE;
  }

  function totalText(total, relation) {
    return relation === 'gte' ? t('common.totalGte', { n: fmtNum(total) }) : t('common.total', { n: fmtNum(total) });
  }

  function errorBox(err) {
    return h('div', { class: 'error-box', role: 'alert', 'data-testid': 'view-error' },
      t('error.loadFailed', { message: explain(err) }));
  }

  function kv(pairs) {
    return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v, testid]) => [
      h('dt', {}, t(k)), h('dd', { 'data-testid': testid || null }, v)
    ]));
  }

  // ------------------------------------------------------------------------------------------------
  // API access
  // ------------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(`${status} ${detail || ''}`);
      this.status = status;
      this.detail = detail || '';
    }
  }

  function getKey() { return sessionStorage.getItem(KEY_STORE); }

  function buildUrl(path, params) {
    const url = new URL(API_BASE + path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === '') continue;
      (Array.isArray(v) ? v : [v]).forEach((one) => url.searchParams.append(k, one));
    }
    return url;
  }

  /** fetch with the key; JSON (or the Response with raw). 401 → key prompt; other errors → ApiError. */
  async function api(path, opts) {
    opts = opts || {};
    const key = getKey();
    if (!key) { showLogin('login.expired'); throw new ApiError(401, ''); }
    const headers = { Authorization: 'Bearer ' + key, Accept: opts.accept || 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(buildUrl(path, opts.params), {
        method: opts.method || 'GET', headers, cache: 'no-store',
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined
      });
    } catch (e) {
      throw new ApiError(0, '');
    }
    if (resp.status === 401) {
      if (getKey() === key) {  // else a newer key was entered meanwhile: this answer is about an old one
        sessionStorage.removeItem(KEY_STORE);
        showLogin(opts.on401 || 'login.expired');
      }
      throw new ApiError(401, '');
    }
    if (!resp.ok) {
      let detail = '';
      try {
        const body = await resp.json();
        detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
      } catch (e) { /* not JSON */ }
      throw new ApiError(resp.status, detail);
    }
    return opts.raw ? resp : resp.json();
  }

  function explain(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    switch (err.status) {
      case 0: return t('error.network');
      case 401: return t('login.expired');
      case 403: return t('error.forbidden');
      case 404: return t('error.notFound');
      case 409: return t('error.conflict', { detail: err.detail });
      case 422: return t('error.invalid', { detail: err.detail });
      case 503: return t('error.unavailable');
      default: return t('error.generic', { status: err.status, detail: err.detail });
    }
  }

  function reportError(err) {
    if (err instanceof ApiError && err.status === 401) return;  // the key prompt says it
    toast(explain(err), 'error');
  }

  // ------------------------------------------------------------------------------------------------
  // Login
  // ------------------------------------------------------------------------------------------------

  function showLogin(messageKey) {
    loginMessage = messageKey || loginMessage;
    clearMe();
    const prompting = document.body.classList.contains('logged-out') && document.getElementById('login-form');
    document.body.classList.add('logged-out');
    current = { render: renderLogin, ready: true };
    if (prompting) {  // already asking (e.g. the second 401 of one route): keep what the user is typing
      document.getElementById('login-error').textContent = loginMessage ? t(loginMessage) : '';
      return;
    }
    renderLogin();
  }

  function renderLogin() {
    const input = h('input', {
      id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, 'aria-describedby': 'login-error'
    });
    const error = h('p', { id: 'login-error', class: 'login-error', role: 'alert', 'data-testid': 'login-error' },
      loginMessage ? t(loginMessage) : '');
    const button = h('button', { type: 'submit', id: 'login-submit', class: 'btn btn-primary' }, t('login.submit'));
    const form = h('form', { id: 'login-form', class: 'login-card', 'data-testid': 'login-form', novalidate: true },
      h('h1', { id: 'login-title' }, t('login.title')),
      h('p', { class: 'muted' }, t('login.intro')),
      field('login.keyLabel', input), error, button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) { error.textContent = t('login.empty'); input.focus(); return; }
      button.disabled = true;
      error.textContent = t('login.checking');
      sessionStorage.setItem(KEY_STORE, key);
      try {
        setMe(key, await api('/v1/me', { on401: 'login.invalid' }));
      } catch (err) {
        const refused = err instanceof ApiError && err.status === 401;  // loginMessage says so
        if (!refused) {
          sessionStorage.removeItem(KEY_STORE);
          loginMessage = null;
        }
        renderLogin();  // a fresh prompt
        if (!refused) document.getElementById('login-error').textContent = explain(err);
        return;
      }
      loginMessage = null;
      document.body.classList.remove('logged-out');
      route();
    });
    document.title = `${t('login.title')} · ${t('app.brand')}`;
    mount(h('section', { class: 'login-wrap' }, form));
    setTimeout(() => { const el = document.getElementById('api-key'); if (el) el.focus(); }, 0);
  }

  // ------------------------------------------------------------------------------------------------
  // Who is signed in (GET /v1/me)
  // ------------------------------------------------------------------------------------------------

  function setMe(key, body) {
    me = body;
    meFor = key;
    mePromise = Promise.resolve(body);
    renderWhoami();
  }

  function clearMe() {
    me = null;
    meFor = null;
    mePromise = null;
    renderWhoami();
  }

  /** GET /v1/me of the stored key, once per key. A 401 rejects (the key prompt is showing); any other failure
   * resolves to null and is retried on the next route: the header stays empty and the triage buttons stay (the
   * API answers 403 to a role that may not triage). */
  function loadMe() {
    const key = getKey();
    if (mePromise && meFor === key) return mePromise;
    me = null;
    meFor = key;
    const p = api('/v1/me').then((body) => {
      if (mePromise === p) { me = body; renderWhoami(); }
      return body;
    }, (err) => {
      if (mePromise === p) mePromise = null;
      if (err instanceof ApiError && err.status === 401) throw err;
      return null;
    });
    mePromise = p;
    renderWhoami();
    return p;
  }

  /** Whether the signed-in role may triage alerts (unknown identity: yes, the API decides). */
  function mayTriage() { return !me || me.may_triage !== false; }

  /** The header's "signed in as": name (else key id), role label and, for a platform key, its processor. */
  function renderWhoami() {
    const el = document.getElementById('whoami');
    if (!el) return;
    if (!me) {
      el.hidden = true;
      el.replaceChildren();
      el.removeAttribute('title');
      ['keyId', 'role', 'processor'].forEach((k) => { delete el.dataset[k]; });
      return;
    }
    const name = me.name || me.key_id;
    const role = label('role', me.role);
    const processor = me.processor_id ? t('whoami.processor', { id: me.processor_id }) : null;
    el.dataset.keyId = me.key_id;
    el.dataset.role = me.role;
    if (me.processor_id) el.dataset.processor = me.processor_id; else delete el.dataset.processor;
    el.title = t('whoami.label', { name, role }) + (processor ? ` · ${processor}` : '');
    el.replaceChildren();
    append(el, [
      h('span', { class: 'whoami-name', 'data-testid': 'whoami-name' }, name),
      h('span', { class: `badge role-${me.role}`, 'data-testid': 'whoami-role', 'data-value': me.role }, role),
      processor ? h('span', { class: 'whoami-processor', 'data-testid': 'whoami-processor' }, processor) : null]);
    el.hidden = false;
  }

  // ------------------------------------------------------------------------------------------------
  // Live countdowns (one timer for the whole page)
  // ------------------------------------------------------------------------------------------------

  function countdown(dueIso, testid) {
    const el = h('span', { class: 'countdown', 'data-due': dueIso, 'data-testid': testid || 'countdown' });
    updateCountdown(el, Date.now());
    return el;
  }

  function updateCountdown(el, now) {
    const due = Date.parse(el.dataset.due);
    if (isNaN(due)) return;
    el.textContent = countdownText(due, now);
    el.classList.toggle('overdue', due <= now);
    el.dataset.overdue = due <= now ? 'true' : 'false';
  }

  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll('.countdown[data-due]').forEach((el) => updateCountdown(el, now));
  }, 1000);

  // ------------------------------------------------------------------------------------------------
  // Alert queue
  // ------------------------------------------------------------------------------------------------

  function effectiveStatus(alert) {
    if (alert.status === 'suppressed' && alert.suppressed_until && Date.parse(alert.suppressed_until) <= Date.now()) {
      return 'open';
    }
    return alert.status;
  }

  function AlertsView(query) {
    const filters = {
      status: query.get('status') || '', severity: query.get('severity') || '', type: query.get('type') || '',
      processor_id: query.get('processor_id') || '', q: query.get('q') || '',
      sort: ALERT_SORTS.includes(query.get('sort')) ? query.get('sort') : ''
    };
    const pageSize = pageSizeOf(query);
    const st = { items: [], next: null, total: 0, relation: 'eq', error: null, expanded: new Set() };

    async function fetchPage(cursor) {
      const body = await api('/v1/alerts', { params: { ...filters, size: pageSize, cursor } });
      st.items = cursor ? st.items.concat(body.items) : body.items;
      st.next = body.next_cursor;
      if (!cursor) { st.total = body.total; st.relation = body.total_relation || 'eq'; }
    }

    function applyFilters(form) {
      const q = new URLSearchParams();
      for (const k of ['status', 'severity', 'type', 'processor_id', 'q', 'sort']) {
        const v = form.elements['f-' + k].value.trim();
        if (v) q.set(k, v);
      }
      if (pageSize !== PAGE_SIZE) q.set('size', String(pageSize));
      const target = '#/alerts' + (q.toString() ? '?' + q : '');
      if (location.hash === target) route(); else location.hash = target;
    }

    function filterForm() {
      const form = h('form', { id: 'alert-filters', class: 'filters', role: 'search', 'aria-label': t('alerts.filters') },
        field('filter.status', select('f-status', 'alertStatus', ALERT_STATUSES, filters.status, true)),
        field('filter.severity', select('f-severity', 'severity', SEVERITIES, filters.severity, true)),
        field('filter.type', select('f-type', 'alertType', ALERT_TYPES, filters.type, true)),
        field('filter.processor', h('input', { id: 'f-processor_id', type: 'text', value: filters.processor_id, placeholder: t('filter.processorPlaceholder') })),
        field('filter.q', h('input', { id: 'f-q', type: 'search', value: filters.q, placeholder: t('filter.qPlaceholder') })),
        field('filter.sort', select('f-sort', (v) => t('sort.' + (v || 'default')), ALERT_SORTS, filters.sort, false)),
        h('div', { class: 'filter-buttons' },
          h('button', { type: 'submit', id: 'f-apply', class: 'btn btn-primary' }, t('common.apply')),
          h('button', { type: 'button', id: 'f-reset', class: 'btn', onclick: () => { location.hash = '#/alerts'; } }, t('common.reset'))));
      form.addEventListener('submit', (ev) => { ev.preventDefault(); applyFilters(form); });
      form.querySelectorAll('select').forEach((el) => el.addEventListener('change', () => applyFilters(form)));
      return form;
    }

    function actionButtons(alert) {
      if (!mayTriage()) {
        return h('span', { class: 'muted small read-only', 'data-testid': 'read-only', title: t('alerts.readOnlyHint') },
          t('alerts.readOnly'));
      }
      const eff = effectiveStatus(alert);
      return h('div', { class: 'row-actions', role: 'group', 'aria-label': t('alerts.rowActions', { id: alert.alert_id }) },
        (TRIAGE[eff] || []).map((action) => h('button', {
          type: 'button', class: `btn btn-small act-${action}`, 'data-action': action,
          'data-testid': `action-${action}`, onclick: () => triage(alert, action)
        }, t('action.' + action))));
    }

    function statusCell(alert) {
      const eff = effectiveStatus(alert);
      const expired = alert.status === 'suppressed' && eff === 'open';
      const until = alert.status === 'suppressed' && !expired
        ? h('div', { class: 'muted small' }, alert.suppressed_until ? t('alerts.until', { at: fmtTime(alert.suppressed_until) }) : t('alerts.suppressedIndefinitely'))
        : null;
      return h('td', { 'data-field': 'status', 'data-status': alert.status },
        badge('alertStatus', alert.status), expired ? h('span', { class: 'muted small' }, ' ' + t('alerts.suppressionExpired')) : null, until);
    }

    function alertRow(alert) {
      const open = st.expanded.has(alert.alert_id);
      const toggle = h('button', {
        type: 'button', class: 'btn-icon', 'data-action': 'expand', 'aria-expanded': open ? 'true' : 'false',
        'aria-controls': 'detail-' + alert.alert_id, 'aria-label': open ? t('alerts.collapse') : t('alerts.expand'),
        onclick: () => { if (open) st.expanded.delete(alert.alert_id); else st.expanded.add(alert.alert_id); renderRows(); }
      }, open ? '▾' : '▸');
      const row = h('tr', {
        'data-testid': 'alert-row', 'data-alert-id': alert.alert_id, 'data-severity': alert.severity,
        'data-status': alert.status, 'data-processor': alert.processor_id, class: `sev-row-${alert.severity}`
      },
        h('td', {}, toggle),
        h('td', { 'data-field': 'severity' }, badge('severity', alert.severity)),
        h('td', { 'data-field': 'type' }, label('alertType', alert.type)),
        h('td', { 'data-field': 'title', class: 'title-cell' }, textOf(alert, 'title')),
        h('td', { 'data-field': 'processor' }, alert.processor_id),
        h('td', { 'data-field': 'count', class: 'num' }, fmtNum(alert.count || 1)),
        h('td', { 'data-field': 'first_raised', class: 'time' }, fmtTime(alert.raised_at)),
        h('td', { 'data-field': 'last_raised', class: 'time' }, fmtTime(alert.last_raised_at || alert.raised_at)),
        statusCell(alert),
        h('td', { 'data-field': 'assignee' }, alert.assignee || h('span', { class: 'muted' }, t('alerts.unassigned'))),
        h('td', { 'data-field': 'actions' }, actionButtons(alert)));
      if (!open) return [row];
      return [row, detailRow(alert)];
    }

    function detailRow(alert) {
      const incidentLink = alert.incident_id
        ? h('a', { href: `#/incidents/${encodeURIComponent(alert.incident_id)}?processor_id=${encodeURIComponent(alert.processor_id)}`, 'data-testid': 'alert-incident-link' }, alert.incident_id)
        : t('common.dash');
      const history = (alert.history || []).slice().reverse();
      const histTable = history.length === 0
        ? h('p', { class: 'muted', 'data-testid': 'history-empty' }, t('alerts.noHistory'))
        : h('table', { class: 'table table-inner', 'data-testid': 'history' },
          h('thead', {}, h('tr', {}, ['hist.at', 'hist.actor', 'hist.role', 'hist.action', 'hist.reason', 'hist.assignee', 'hist.until'].map((k) => h('th', { scope: 'col' }, t(k))))),
          h('tbody', {}, history.map((e) => h('tr', { 'data-testid': 'history-entry', 'data-action': e.action },
            h('td', { class: 'time' }, fmtTime(e.at)), h('td', {}, e.actor), h('td', {}, label('role', e.role)),
            h('td', {}, t('action.' + e.action)), h('td', {}, e.reason || t('common.dash')),
            h('td', {}, e.assignee || t('common.dash')), h('td', { class: 'time' }, e.suppressed_until ? fmtTime(e.suppressed_until) : t('common.dash'))))));
      const basis = alert.legal_basis ? [citation(alert.legal_basis), alert.legal_basis.quote ? h('q', { class: 'quote' }, alert.legal_basis.quote) : null] : t('common.dash');
      return h('tr', { class: 'detail-row', id: 'detail-' + alert.alert_id, 'data-testid': 'alert-detail', 'data-alert-id': alert.alert_id },
        h('td', { colspan: 11 },
          h('div', { class: 'detail-grid' },
            kv([
              ['alerts.message', textOf(alert, 'message')],
              ['alerts.findings', h('a', { href: alertFindingsHash(alert), 'data-testid': 'alert-findings-link' }, t('alerts.findingsLink'))],
              ['alerts.legalBasis', basis],
              ['alerts.incident', incidentLink],
              ['alerts.obligation', alert.obligation ? label('obligation', alert.obligation) : t('common.dash')],
              ['alerts.dueAt', alert.due_at ? [fmtDue(alert.due_at), ' ', countdown(alert.due_at, 'alert-countdown')] : t('common.dash')],
              ['alerts.rulePack', alert.rule_pack],
              alert.status === 'suppressed' ? ['alerts.suppressedUntil', alert.suppressed_until ? fmtTime(alert.suppressed_until) : t('alerts.suppressedIndefinitely')] : null,
              ['alerts.statusReason', alert.status_reason || t('common.dash'), 'status-reason'],
              ['alerts.updatedAt', fmtTime(alert.updated_at)],
              ['alerts.dedupKey', h('code', {}, alert.dedup_key)]
            ]),
            h('section', { class: 'history' }, h('h3', {}, t('alerts.history')), histTable))));
    }

    let tbody = null;
    let summary = null;
    let more = null;

    function renderRows() {
      if (!tbody) return;
      tbody.replaceChildren(...st.items.flatMap(alertRow));
      if (st.items.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 11, class: 'empty', 'data-testid': 'empty' }, t('common.empty'))));
      summary.textContent = `${totalText(st.total, st.relation)} · ${t('common.shown', { n: fmtNum(st.items.length) })}`;
      more.hidden = !st.next;
    }

    function replaceAlert(updated) {
      st.items = st.items.map((a) => (a.alert_id === updated.alert_id ? updated : a));
      renderRows();
    }

    async function post(alert, action, body) {
      const updated = await api(`/v1/alerts/${encodeURIComponent(alert.alert_id)}/${action}`, { method: 'POST', body });
      replaceAlert(updated);
      toast(t('triage.done', { action: t('action.' + action) }), 'ok');
    }

    function triage(alert, action) {
      if (action === 'acknowledge') {
        post(alert, action, {}).catch(reportError);
        return;
      }
      openTriageDialog(alert, action, post);
    }

    function render() {
      document.title = `${t('alerts.title')} · ${t('app.brand')}`;
      const head = ['col.expand', 'col.severity', 'col.type', 'col.title', 'col.processor', 'col.count', 'col.firstRaised',
        'col.lastRaised', 'col.status', 'col.assignee', 'col.actions'];
      tbody = h('tbody', {});
      summary = h('span', { id: 'alerts-total', 'data-testid': 'alerts-total', 'data-total': st.total, 'data-relation': st.relation });
      more = h('button', {
        type: 'button', id: 'alerts-more', class: 'btn', 'data-testid': 'load-more',
        onclick: async () => {
          more.disabled = true;
          try { await fetchPage(st.next); renderRows(); } catch (err) { reportError(err); } finally { more.disabled = false; }
        }
      }, t('common.loadMore'));
      const table = h('table', { class: 'table', id: 'alerts-table', 'data-testid': 'alerts-table' },
        h('caption', { class: 'sr-only' }, t('alerts.title')),
        h('thead', {}, h('tr', {}, head.map((k) => h('th', { scope: 'col', class: k === 'col.count' ? 'num' : null }, k === 'col.expand' ? h('span', { class: 'sr-only' }, t(k)) : t(k))))),
        tbody);
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('alerts.title')), summary,
          csvButton('/v1/alerts', filters, 'alerts')),
        filterForm(),
        st.error ? errorBox(st.error) : h('div', { class: 'table-wrap' }, table),
        h('div', { class: 'pager' }, more));
      if (!st.error) renderRows(); else more.hidden = true;
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try { await fetchPage(null); } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }

    return { name: 'alerts', load, render };
  }

  /** Modal dialog for assign / resolve / suppress / reopen; calls submit(alert, action, body). */
  function openTriageDialog(alert, action, submit) {
    const old = document.getElementById('triage-dialog');
    if (old) old.remove();
    const needReason = action === 'resolve' || action === 'suppress';
    const reason = h('textarea', { id: 'triage-reason', rows: 3, maxlength: 2000, required: needReason });
    const assignee = action === 'assign' ? h('input', { id: 'triage-assignee', type: 'text', required: true, value: alert.assignee || '' }) : null;
    const until = action === 'suppress' ? h('input', { id: 'triage-until', type: 'datetime-local' }) : null;
    const error = h('p', { id: 'triage-error', class: 'form-error', role: 'alert' });
    const submitBtn = h('button', { type: 'submit', id: 'triage-submit', class: 'btn btn-primary' }, t('triage.submit'));
    const dialog = h('dialog', { id: 'triage-dialog', class: 'dialog', 'data-action': action, 'aria-labelledby': 'triage-title' },
      h('form', { method: 'dialog', novalidate: true },
        h('h2', { id: 'triage-title' }, t('triage.title.' + action)),
        h('p', { class: 'muted' }, t('triage.alert', { title: alert.title })),
        assignee ? field('triage.assignee', assignee) : null,
        field(needReason ? 'triage.reasonRequired' : 'triage.reasonOptional', reason),
        until ? field('triage.until', until) : null,
        error,
        h('div', { class: 'dialog-buttons' },
          h('button', { type: 'button', id: 'triage-cancel', class: 'btn', onclick: () => dialog.close() }, t('common.cancel')),
          submitBtn)));
    dialog.querySelector('form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {};
      const why = reason.value.trim();
      if (needReason && !why) { error.textContent = t('triage.needReason'); reason.focus(); return; }
      if (why) body.reason = why;
      if (assignee) {
        if (!assignee.value.trim()) { error.textContent = t('triage.needAssignee'); assignee.focus(); return; }
        body.assignee = assignee.value.trim();
      }
      if (until && until.value) {
        const at = new Date(until.value);  // datetime-local: the browser's local time
        if (isNaN(at) || at.getTime() <= Date.now()) { error.textContent = t('triage.untilPast'); until.focus(); return; }
        body.until = at.toISOString();
      }
      submitBtn.disabled = true;
      try {
        await submit(alert, action, body);
        dialog.close();
      } catch (err) {
        error.textContent = explain(err);
      } finally {
        submitBtn.disabled = false;
      }
    });
    dialog.querySelectorAll('input, textarea').forEach((el) => el.addEventListener('input', () => { error.textContent = ''; }));
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    (assignee || reason).focus();
  }

  // ------------------------------------------------------------------------------------------------
  // Incidents
  // ------------------------------------------------------------------------------------------------

  function incidentHref(rec) {
    return `#/incidents/${encodeURIComponent(rec.incident_id)}?processor_id=${encodeURIComponent(rec.processor_id)}`;
  }

  function nextDue(rec) {
    const open = (rec.obligations || []).filter((o) => (o.status === 'pending' || o.status === 'overdue') && o.due_at);
    open.sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
    return open[0] || null;
  }

  function IncidentsView(query) {
    const filters = {
      processor_id: query.get('processor_id') || '', status: query.get('status') || '', type: query.get('type') || ''
    };
    const st = { items: [], next: null, total: 0, relation: 'eq', error: null };

    async function fetchPage(cursor) {
      const body = await api('/v1/incidents', { params: { ...filters, size: PAGE_SIZE, cursor } });
      st.items = cursor ? st.items.concat(body.items) : body.items;
      st.next = body.next_cursor;
      if (!cursor) { st.total = body.total; st.relation = body.total_relation || 'eq'; }
    }

    function applyFilters(form) {
      const q = new URLSearchParams();
      for (const k of ['processor_id', 'status', 'type']) {
        const v = form.elements['i-' + k].value.trim();
        if (v) q.set(k, v);
      }
      const target = '#/incidents' + (q.toString() ? '?' + q : '');
      if (location.hash === target) route(); else location.hash = target;
    }

    function render() {
      document.title = `${t('incidents.title')} · ${t('app.brand')}`;
      const form = h('form', { id: 'incident-filters', class: 'filters', role: 'search', 'aria-label': t('incidents.filters') },
        field('filter.obligationStatus', select('i-status', 'obStatus', OB_STATUSES, filters.status, true)),
        field('filter.incidentType', select('i-type', 'incidentType', INCIDENT_TYPES, filters.type, true)),
        field('filter.processor', h('input', { id: 'i-processor_id', type: 'text', value: filters.processor_id, placeholder: t('filter.processorPlaceholder') })),
        h('div', { class: 'filter-buttons' },
          h('button', { type: 'submit', class: 'btn btn-primary', id: 'i-apply' }, t('common.apply')),
          h('button', { type: 'button', class: 'btn', onclick: () => { location.hash = '#/incidents'; } }, t('common.reset'))));
      form.addEventListener('submit', (ev) => { ev.preventDefault(); applyFilters(form); });
      form.querySelectorAll('select').forEach((el) => el.addEventListener('change', () => applyFilters(form)));
      const head = ['col.incident', 'col.processor', 'col.incidentType', 'col.incidentStatus', 'col.occurredAt',
        'col.detectedAt', 'col.persons', 'col.sensitivePersons', 'col.importantData', 'col.obligations', 'col.nextDue'];
      const tbody = h('tbody', {}, st.items.map((rec) => {
        const due = nextDue(rec);
        return h('tr', { 'data-testid': 'incident-row', 'data-incident-id': rec.incident_id, 'data-processor': rec.processor_id },
          h('td', {}, h('a', { href: incidentHref(rec), 'data-testid': 'incident-link' }, rec.incident_id)),
          h('td', {}, rec.processor_name ? `${rec.processor_name} (${rec.processor_id})` : rec.processor_id),
          h('td', {}, label('incidentType', rec.type)),
          h('td', {}, label('incidentStatus', rec.status)),
          h('td', { class: 'time' }, fmtTime(rec.occurred_at)),
          h('td', { class: 'time' }, fmtTime(rec.detected_at)),
          h('td', { class: 'num' }, fmtNum(rec.persons)),
          h('td', { class: 'num' }, fmtNum(rec.sensitive_persons)),
          h('td', {}, rec.important_data ? h('span', { class: 'badge flag' }, t('common.yes')) : t('common.no')),
          h('td', {}, h('div', { class: 'chips' }, (rec.obligations || []).filter((o) => o.status !== 'not_applicable').map((o) =>
            h('span', { class: `chip obStatus-${o.status}`, 'data-obligation': o.id, 'data-status': o.status },
              label('obligation', o.id) + t('common.colon') + label('obStatus', o.status))))),
          h('td', {}, due ? countdown(due.due_at, 'incident-countdown') : t('common.dash')));
      }));
      if (st.items.length === 0) tbody.append(h('tr', {}, h('td', { colspan: head.length, class: 'empty', 'data-testid': 'empty' }, t('common.empty'))));
      const more = h('button', {
        type: 'button', id: 'incidents-more', class: 'btn', 'data-testid': 'load-more', hidden: !st.next,
        onclick: async () => { try { await fetchPage(st.next); render(); } catch (err) { reportError(err); } }
      }, t('common.loadMore'));
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('incidents.title')),
          h('span', { id: 'incidents-total', 'data-testid': 'incidents-total' }, st.error ? '' : totalText(st.total, st.relation))),
        form,
        st.error ? errorBox(st.error) : h('div', { class: 'table-wrap' },
          h('table', { class: 'table', id: 'incidents-table', 'data-testid': 'incidents-table' },
            h('thead', {}, h('tr', {}, head.map((k) => h('th', { scope: 'col' }, t(k))))), tbody)),
        h('div', { class: 'pager' }, more));
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try { await fetchPage(null); } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }

    return { name: 'incidents', load, render };
  }

  /** Fetch a file with the key (CSV export, PDF report) and save it under the server's file name. */
  async function downloadFile(path, params, accept, fallbackName) {
    try {
      const resp = await api(path, { params, raw: true, accept });
      const disposition = resp.headers.get('Content-Disposition') || '';
      const m = /filename="([^"]+)"/.exec(disposition);
      const url = URL.createObjectURL(await resp.blob());
      const a = h('a', { href: url, download: m ? m[1] : fallbackName, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) { reportError(err); }
  }

  /** A "CSV" button exporting every item of the list with the view's filters (GET …?format=csv). */
  function csvButton(path, filters, name) {
    return h('button', {
      type: 'button', class: 'btn', 'data-testid': 'csv-export',
      onclick: () => downloadFile(path, { ...filters, format: 'csv' }, 'text/csv', name + '.csv')
    }, t('common.csv'));
  }

  /** Fetch a report with the key and hand it over as a Blob URL (download or new tab). */
  async function openReport(rec, kind, popup) {
    const path = `/v1/incidents/${encodeURIComponent(rec.incident_id)}/${kind === 'json' ? 'report' : 'report.html'}`;
    const params = { processor_id: rec.processor_id };
    if (kind === 'json') params.download = 'true';
    try {
      const resp = await api(path, { params, raw: true, accept: kind === 'json' ? 'application/json' : 'text/html' });
      const blob = await resp.blob();
      const typed = new Blob([blob], { type: kind === 'json' ? 'application/json' : 'text/html;charset=utf-8' });
      const url = URL.createObjectURL(typed);
      if (kind === 'json') {
        const a = h('a', { href: url, download: `incident-${rec.processor_id}-${rec.incident_id}-report.json`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        if (popup) popup.close();
      } else if (popup) {
        popup.location.href = url;
      } else {
        window.open(url, '_blank');
      }
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      if (popup) popup.close();
      reportError(err);
    }
  }

  function IncidentView(id, query) {
    const processorId = query.get('processor_id') || '';
    const st = { rec: null, error: null };

    /** A group header row: binding law in force, or Flowwatch policy (the draft's clocks, not law). */
    function groupRow(binding, n) {
      return h('tr', { class: 'group-row', 'data-testid': binding ? 'law-group' : 'policy-group' },
        h('th', { colspan: String(n), scope: 'colgroup' }, t(binding ? 'ob.groupLaw' : 'ob.groupPolicy')));
    }

    function obligationRows(obligations, n) {
      const law = obligations.filter((o) => o.binding !== false);
      const policy = obligations.filter((o) => o.binding === false);
      return [law.length ? groupRow(true, n) : null, law.map(obligationRow),
        policy.length ? groupRow(false, n) : null, policy.map(obligationRow)];
    }

    function obligationRow(o) {
      const live = (o.status === 'pending' || o.status === 'overdue') && o.due_at;
      let left;
      if (live) left = countdown(o.due_at, 'countdown');
      else if (o.status === 'done') left = h('span', { class: 'ok' }, t('ob.doneAt', { at: fmtTime(o.done_at) }), o.done_late ? t('ob.doneLate') : '');
      else if (o.status === 'waived') left = t('ob.waived', { reason: o.waived_reason || t('common.dash') });
      else if (o.triggered && !o.due_at && /^immediately/.test(o.period || '') && o.clock_start) left = h('span', { class: 'muted' }, t('ob.noFigure'));
      else if (o.triggered && !o.due_at) left = h('span', { class: 'muted' }, t('ob.noClock'));
      else left = t('common.dash');
      const notes = [
        o.late_at_detection ? h('div', { class: 'warn' }, t('ob.lateAtDetection')) : null,
        (o.notes || []).map((n) => h('div', { class: 'muted small' }, noteText(n)))
      ];
      return h('tr', {
        'data-testid': 'obligation', 'data-obligation': o.id, 'data-status': o.status,
        'data-pack': o.pack_id, 'data-binding': o.binding === false ? 'policy' : 'law',
        class: o.status === 'not_applicable' ? 'dim' : null
      },
        h('th', { scope: 'row' }, label('obligation', o.id),
          h('div', { class: 'muted small' }, badge('packKind', o.pack_kind || 'law'), ' ', o.pack_id || '')),
        h('td', {}, badge('obStatus', o.status)),
        h('td', { class: 'time', 'data-field': 'due_at' }, fmtDue(o.due_at),
          o.estimated ? h('div', { class: 'warn small', 'data-testid': 'estimated' }, t('ob.estimated')) : null),
        h('td', { 'data-field': 'countdown' }, left),
        h('td', {}, periodText(o.period), o.clock_started_by ? h('div', { class: 'muted small' }, t('ob.clockFrom', { clock: label('clock', o.clock_started_by) })) : null),
        h('td', { class: 'basis' }, citation(o.legal_basis), o.legal_basis && o.legal_basis.quote ? h('div', {}, h('q', { class: 'quote' }, o.legal_basis.quote)) : null),
        h('td', {}, (o.recipients || []).map((r) => label('recipient', r)).join(t('common.listSep')) || t('common.dash')),
        h('td', { class: 'small' }, triggerText(o.trigger_reason)),
        h('td', {}, notes));
    }

    function render() {
      const rec = st.rec;
      document.title = `${t('incident.title', { id })} · ${t('app.brand')}`;
      const back = h('a', { href: '#/incidents', class: 'back', 'data-testid': 'back' }, t('incident.back'));
      if (st.error) {
        mount(back, h('h1', { id: 'view-title' }, t('incident.title', { id })), errorBox(st.error));
        return;
      }
      const reportButtons = h('div', { class: 'report-buttons' },
        h('button', {
          type: 'button', id: 'report-json', class: 'btn', 'data-testid': 'report-json',
          onclick: () => openReport(rec, 'json', null)
        }, t('incident.reportJson')),
        h('button', {
          type: 'button', id: 'report-html', class: 'btn', 'data-testid': 'report-html',
          // open the tab within the click (popup blockers), then point it at the Blob URL
          onclick: () => openReport(rec, 'html', window.open('', '_blank'))
        }, t('incident.reportHtml')),
        h('button', {
          type: 'button', id: 'report-pdf', class: 'btn', 'data-testid': 'report-pdf',
          onclick: () => downloadFile(`/v1/incidents/${encodeURIComponent(rec.incident_id)}/report.pdf`,
            { processor_id: rec.processor_id, download: 'true' }, 'application/pdf', `incident-${rec.incident_id}.pdf`)
        }, t('incident.reportPdf')));
      const obHead = ['ob.col.obligation', 'ob.col.status', 'ob.col.due', 'ob.col.countdown', 'ob.col.period',
        'ob.col.basis', 'ob.col.recipients', 'ob.col.trigger', 'ob.col.details'];
      const report = rec.report;
      const missing = report ? (report.missing || []) : null;
      mount(
        back,
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('incident.title', { id: rec.incident_id })),
          rec.type ? badge('incidentType', rec.type) : null, rec.status ? badge('incidentStatus', rec.status) : null),
        h('section', { class: 'panel', 'aria-labelledby': 'facts-title' },
          h('h2', { id: 'facts-title' }, t('incident.facts')),
          kv([
            ['incident.processor', rec.processor_name ? `${rec.processor_name} (${rec.processor_id})` : rec.processor_id],
            ['incident.type', label('incidentType', rec.type)],
            ['incident.status', label('incidentStatus', rec.status)],
            ['incident.occurredAt', fmtTime(rec.occurred_at)],
            ['incident.detectedAt', fmtTime(rec.detected_at)],
            ['incident.firstSeen', fmtTime(rec.first_seen_at)],
            ['incident.updatedAt', fmtTime(rec.updated_at)],
            ['incident.persons', t('common.paren', { a: fmtNum(rec.persons), b: t('incident.personsBasis.' + rec.persons_basis) }), 'persons'],
            ['incident.sensitivePersons', fmtNum(rec.sensitive_persons)],
            ['incident.importantData', rec.important_data ? t('common.yes') : t('common.no')],
            ['incident.harm', rec.harm_to_individuals ? t('common.yes') : t('common.no')],
            ['incident.entityTypes', (rec.entity_types || []).map((e) => label('entity', e)).join(t('common.listSep')) || t('common.none')],
            ['incident.categories', (rec.categories || []).map((c) => label('category', c)).join(t('common.listSep')) || t('common.none')],
            ['incident.grade', rec.grade ? t('common.paren', { a: rec.grade, b: rec.grade_reason || '' }) : t('common.dash'), 'grade'],
            ['incident.pack', (rec.packs || []).length
              ? rec.packs.map((p) => `${p.id} (${label('packKind', p.kind)})`).join(t('common.listSep'))
              : (rec.pack_id || t('common.dash'))]
          ])),
        h('section', { class: 'panel', 'aria-labelledby': 'reports-title' },
          h('h2', { id: 'reports-title' }, t('incident.reports')),
          reportButtons,
          h('p', { class: 'muted', 'data-testid': 'report-missing' }, missing === null ? t('incident.noReport')
            : missing.length ? t('incident.reportMissing') + missing.map((m) => label('reportField', m)).join(t('common.listSep'))
              : t('incident.reportComplete'))),
        h('section', { class: 'panel', 'aria-labelledby': 'obligations-title' },
          h('h2', { id: 'obligations-title' }, t('incident.obligations')),
          h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'obligations-table', 'data-testid': 'obligations' },
            h('thead', {}, h('tr', {}, obHead.map((k) => h('th', { scope: 'col' }, t(k))))),
            h('tbody', {}, obligationRows(rec.obligations || [], obHead.length))))),
        h('section', { class: 'panel', 'aria-labelledby': 'timeline-title' },
          h('h2', { id: 'timeline-title' }, t('incident.timeline')),
          h('ul', { class: 'timeline', 'data-testid': 'timeline' }, (rec.timeline || []).slice().reverse().map((e) =>
            h('li', {}, h('span', { class: 'time' }, fmtTime(e.at)), ' ', timelineText(e.what), e.actor ? h('span', { class: 'muted' }, ` (${e.actor})`) : null)))));
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try {
        st.rec = await api(`/v1/incidents/${encodeURIComponent(id)}`, { params: { processor_id: processorId } });
      } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }

    return { name: 'incidents', load, render };
  }

  // ------------------------------------------------------------------------------------------------
  // Export ledger
  // ------------------------------------------------------------------------------------------------

  function ExportsView(query) {
    const filters = { processor_id: query.get('processor_id') || '', required_mechanism: query.get('required_mechanism') || '' };
    const st = { items: [], next: null, total: 0, relation: 'eq', error: null };

    async function fetchPage(cursor) {
      const body = await api('/v1/exports/ledger', { params: { ...filters, size: PAGE_SIZE, cursor } });
      st.items = cursor ? st.items.concat(body.items) : body.items;
      st.next = body.next_cursor;
      if (!cursor) { st.total = body.total; st.relation = body.total_relation || 'eq'; }
    }

    function thresholdRow(th) {
      const ratio = th.threshold > 0 ? Math.min(1, th.value / th.threshold) : 1;
      const pct = (ratio * 100).toLocaleString(locale(), { maximumFractionDigits: ratio < 0.01 && ratio > 0 ? 3 : 1 }) + '%';
      const fill = h('div', { class: 'bar-fill', 'data-testid': 'threshold-fill', style: { width: (ratio * 100) + '%' } });
      return h('div', {
        class: `threshold ${th.reached ? 'reached' : ''}`, 'data-testid': 'threshold', 'data-name': th.name,
        'data-value': th.value, 'data-threshold': th.threshold, 'data-ratio': ratio.toFixed(6), 'data-reached': th.reached ? 'true' : 'false'
      },
        h('div', { class: 'threshold-head' },
          h('span', { class: 'threshold-name' }, label('threshold', th.name)),
          h('span', { class: 'threshold-article muted' }, th.article),
          h('span', { class: 'threshold-state ' + (th.reached ? 'warn' : 'muted') }, th.reached ? t('exports.reached') : t('exports.notReached'))),
        h('div', {
          class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': th.threshold, 'aria-valuenow': Math.min(th.value, th.threshold),
          'aria-valuetext': t('exports.progress', { value: fmtNum(th.value), threshold: fmtNum(th.threshold), pct }),
          'aria-label': label('threshold', th.name)
        }, fill),
        h('div', { class: 'threshold-foot small' }, t('exports.progress', { value: fmtNum(th.value), threshold: fmtNum(th.threshold), pct }),
          ' · ', label('counter', th.counter)));
    }

    function card(rec) {
      const missing = rec.required_mechanism !== 'none' && (rec.mechanisms_on_file || []).length === 0;
      return h('article', {
        class: 'panel ledger', 'data-testid': 'ledger-record', 'data-processor': rec.processor_id, 'data-window': rec.window_id,
        'aria-label': `${rec.processor_id} ${rec.window_id}`
      },
        h('header', { class: 'ledger-head' },
          h('h2', {}, rec.processor_name ? `${rec.processor_name} (${rec.processor_id})` : rec.processor_id),
          h('span', { class: 'muted' }, t('exports.window') + t('common.colon') + rec.window_id)),
        h('div', { class: 'ledger-body' },
          h('div', { class: 'ledger-facts' },
            kv([
              ['exports.pack', rec.pack_id],
              ['exports.windowStart', fmtTime(rec.window_start)],
              ['exports.persons', fmtNum(rec.persons), 'ledger-persons'],
              ['exports.sensitivePersons', fmtNum(rec.sensitive_persons), 'ledger-sensitive'],
              ['exports.flows', fmtNum(rec.flows)],
              ['exports.required', h('span', { 'data-testid': 'required-mechanism', 'data-value': rec.required_mechanism }, badge('mechanism', rec.required_mechanism))],
              ['exports.reasons', (rec.required_reasons || []).join('; ') || t('common.dash')],
              ['exports.onFile', h('span', { 'data-testid': 'mechanisms-on-file' },
                (rec.mechanisms_on_file || []).length ? rec.mechanisms_on_file.join(t('common.listSep')) : t('exports.noneOnFile'),
                missing ? h('span', { class: 'badge warn-badge', 'data-testid': 'mechanism-missing' }, t('exports.missingMechanism')) : null)],
              ['exports.updatedAt', fmtTime(rec.updated_at)]
            ])),
          h('div', { class: 'ledger-thresholds' }, h('h3', {}, t('exports.thresholds')), (rec.thresholds || []).map(thresholdRow))));
    }

    function render() {
      document.title = `${t('exports.title')} · ${t('app.brand')}`;
      const form = h('form', { id: 'ledger-filters', class: 'filters', role: 'search', 'aria-label': t('exports.filters') },
        field('filter.processor', h('input', { id: 'l-processor_id', type: 'text', value: filters.processor_id, placeholder: t('filter.processorPlaceholder') })),
        field('filter.requiredMechanism', select('l-required_mechanism', 'mechanism', MECHANISMS, filters.required_mechanism, true)),
        h('div', { class: 'filter-buttons' },
          h('button', { type: 'submit', class: 'btn btn-primary' }, t('common.apply')),
          h('button', { type: 'button', class: 'btn', onclick: () => { location.hash = '#/exports'; } }, t('common.reset'))));
      const applyFilters = () => {
        const q = new URLSearchParams();
        if (form.elements['l-processor_id'].value.trim()) q.set('processor_id', form.elements['l-processor_id'].value.trim());
        if (form.elements['l-required_mechanism'].value) q.set('required_mechanism', form.elements['l-required_mechanism'].value);
        const target = '#/exports' + (q.toString() ? '?' + q : '');
        if (location.hash === target) route(); else location.hash = target;
      };
      form.addEventListener('submit', (ev) => { ev.preventDefault(); applyFilters(); });
      form.querySelector('select').addEventListener('change', applyFilters);
      const more = h('button', {
        type: 'button', id: 'ledger-more', class: 'btn', 'data-testid': 'load-more', hidden: !st.next,
        onclick: async () => { try { await fetchPage(st.next); render(); } catch (err) { reportError(err); } }
      }, t('common.loadMore'));
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('exports.title')),
          h('span', { id: 'ledger-total', 'data-testid': 'ledger-total' }, st.error ? '' : totalText(st.total, st.relation)),
          csvButton('/v1/exports/ledger', filters, 'export-ledger')),
        h('p', { class: 'muted intro' }, t('exports.intro')),
        form,
        st.error ? errorBox(st.error) : (st.items.length ? h('div', { class: 'ledger-list' }, st.items.map(card))
          : h('p', { class: 'empty', 'data-testid': 'empty' }, t('common.empty'))),
        h('div', { class: 'pager' }, more));
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try { await fetchPage(null); } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }

    return { name: 'exports', load, render };
  }

  // ------------------------------------------------------------------------------------------------
  // Findings over time (+ alert counts)
  // ------------------------------------------------------------------------------------------------

  function countTable(id, titleKey, colKey, counts, group, linkFor) {
    const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return h('section', { class: 'panel small-panel', 'aria-labelledby': id + '-title' },
      h('h3', { id: id + '-title' }, t(titleKey)),
      rows.length === 0 ? h('p', { class: 'muted' }, t('common.none')) :
        h('table', { class: 'table table-compact', id, 'data-testid': id },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t(colKey)), h('th', { scope: 'col', class: 'num' }, t('col.n')))),
          h('tbody', {}, rows.map(([k, n]) => h('tr', { 'data-key': k, 'data-count': n },
            h('td', {}, linkFor ? h('a', { href: linkFor(k), 'data-testid': id + '-link' }, group ? label(group, k) : k) : (group ? label(group, k) : k),
              group && label(group, k) !== k ? h('span', { class: 'muted small' }, ` ${k}`) : null),
            h('td', { class: 'num' }, fmtNum(n)))))));
  }

  function chart(stats, fromMs, toMs) {
    const W = 1280, H = 280, left = 44, right = 10, top = 14, bottom = 30;
    const dayMs = 86400000;
    const firstDay = Math.floor(fromMs / dayMs) * dayMs;
    const days = Math.max(1, Math.ceil((toMs - firstDay) / dayMs));
    const slot = (W - left - right) / days;
    const barW = Math.max(2, slot * 0.72);
    const buckets = stats.over_time || [];
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const svg = s('svg', {
      id: 'findings-chart', 'data-testid': 'findings-chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': t('findings.chartLabel', { n: buckets.length }), class: 'chart', preserveAspectRatio: 'xMidYMid meet'
    });
    svg.append(s('title', {}, t('findings.chartLabel', { n: buckets.length })));
    const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
    for (const v of ticks) {
      svg.append(s('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'grid' }));
      svg.append(s('text', { x: left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmtNum(v)));
    }
    const labelEvery = Math.max(1, Math.ceil(days / 12));
    for (let i = 0; i < days; i += labelEvery) {
      const day = new Date(firstDay + i * dayMs).toISOString().slice(5, 10);
      svg.append(s('text', { x: left + slot * i + slot / 2, y: H - bottom + 16, class: 'axis', 'text-anchor': 'middle' }, day));
    }
    for (const b of buckets) {
      const i = Math.floor((Date.parse(b.t) - firstDay) / dayMs);
      const x = left + slot * i + (slot - barW) / 2;
      const dayHash = findingsListHash({ from: b.t, to: new Date(Date.parse(b.t) + dayMs).toISOString() });
      const g = s('g', {
        class: 'bar-group', tabindex: 0, role: 'link', 'data-testid': 'bar-link', 'data-href': dayHash,
        onclick: () => { location.hash = dayHash; },
        onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = dayHash; }
      });
      const title = t('findings.barTitle', { date: fmtUtcDay(b.t), count: fmtNum(b.count), sensitive: fmtNum(b.sensitive) });
      g.append(s('title', {}, title));
      g.append(s('rect', {
        x, y: y(b.count), width: barW, height: Math.max(1, y(0) - y(b.count)), class: 'bar-total',
        'data-testid': 'bar', 'data-t': b.t, 'data-count': b.count, 'data-sensitive': b.sensitive
      }));
      if (b.sensitive > 0) {
        g.append(s('rect', { x, y: y(b.sensitive), width: barW, height: Math.max(1, y(0) - y(b.sensitive)), class: 'bar-sensitive' }));
      }
      svg.append(g);
    }
    svg.append(s('line', { x1: left, x2: W - right, y1: y(0), y2: y(0), class: 'baseline' }));
    return svg;
  }

  function FindingsView(query) {
    const range = RANGES.includes(query.get('days')) ? query.get('days') : '30';
    const st = { findings: null, alerts: null, fErr: null, aErr: null, from: 0, to: 0 };

    function kpi(id, key, value, cls) {
      return h('div', { class: `kpi ${cls || ''}`, id, 'data-testid': id }, h('div', { class: 'kpi-value' }, fmtNum(value)), h('div', { class: 'kpi-label' }, t(key)));
    }

    function render() {
      document.title = `${t('findings.title')} · ${t('app.brand')}`;
      const rangeSel = select('stats-range', (v) => t('range.' + v), RANGES, range, false);
      rangeSel.addEventListener('change', () => { location.hash = '#/findings?days=' + rangeSel.value; });
      const f = st.findings;
      const a = st.alerts;
      const kpis = h('div', { class: 'kpis' },
        f ? [kpi('kpi-findings', 'findings.total', f.total), kpi('kpi-sensitive', 'findings.sensitive', f.sensitive, 'kpi-warn')] : null,
        a ? [kpi('kpi-alerts', 'alertsStats.total', a.total), kpi('kpi-open', 'alertsStats.open', (a.by_status || {}).open || 0, 'kpi-alert')] : null);
      const findingsPart = st.fErr ? errorBox(st.fErr) : [
        h('section', { class: 'panel', 'aria-labelledby': 'chart-title' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'chart-title' }, t('findings.chart')),
            h('div', { class: 'legend' },
              h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-total' }), t('findings.legendAll')),
              h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-sensitive' }), t('findings.legendSensitive')))),
          (f.over_time || []).length ? chart(f, st.from, st.to) : h('p', { class: 'muted', 'data-testid': 'chart-empty' }, t('findings.noData'))),
        h('div', { class: 'grid3' },
          countTable('by-entity-type', 'findings.byEntityType', 'col.entityType', f.by_entity_type, 'entity',
            (k) => findingsListHash({ entity_type: k, from: new Date(st.from).toISOString(), to: new Date(st.to).toISOString() })),
          countTable('by-category', 'findings.byCategory', 'col.category', f.by_category, 'category',
            (k) => findingsListHash({ category: k, from: new Date(st.from).toISOString(), to: new Date(st.to).toISOString() })),
          countTable('by-processor', 'findings.byProcessor', 'col.processor', f.by_processor, null,
            (k) => findingsListHash({ processor_id: k, from: new Date(st.from).toISOString(), to: new Date(st.to).toISOString() })))];
      const alertsPart = st.aErr ? h('section', { class: 'panel' }, h('h2', {}, t('alertsStats.title')), errorBox(st.aErr)) :
        h('section', { class: 'panel', 'aria-labelledby': 'alerts-stats-title' },
          h('h2', { id: 'alerts-stats-title' }, t('alertsStats.title')),
          h('div', { class: 'grid3' },
            countTable('alerts-by-severity', 'alertsStats.bySeverity', 'col.severity', a.by_severity, 'severity'),
            countTable('alerts-by-status', 'alertsStats.byStatus', 'col.status', a.by_status, 'alertStatus'),
            countTable('alerts-by-type', 'alertsStats.byType', 'col.type', a.by_type, 'alertType')));
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('findings.title')), field('findings.range', rangeSel),
          h('a', { class: 'btn', href: findingsListHash({ from: new Date(st.from).toISOString() }), 'data-testid': 'findings-list-link' }, t('findings.openList'))),
        h('p', { class: 'muted small' }, t('findings.clickHint')),
        kpis, findingsPart, alertsPart);
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      const now = new Date();
      const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (Number(range) - 1) * 86400000);
      st.from = from.getTime();
      st.to = now.getTime();
      const params = { from: from.toISOString(), to: now.toISOString() };
      const [f, a] = await Promise.allSettled([
        api('/v1/findings/stats', { params: { ...params, interval: 'day' } }),
        api('/v1/alerts/stats', { params })
      ]);
      for (const r of [f, a]) if (r.status === 'rejected' && r.reason && r.reason.status === 401) throw r.reason;
      if (f.status === 'fulfilled') st.findings = f.value; else st.fErr = f.reason;
      if (a.status === 'fulfilled') st.alerts = a.value; else st.aErr = a.reason;
    }

    return { name: 'findings', load, render };
  }

  // ------------------------------------------------------------------------------------------------
  // Generic list view (issue 15): filters from the hash query, cursor paging with "load more"
  // ------------------------------------------------------------------------------------------------

  /** A filtered, paged table. spec: {name, hash, path, titleKey, introKey, filters: [{key, labelKey, control(v)}],
   * columns: [{key, labelKey, cell(item)}], rowAttrs(item), extra(st)} — filters map 1:1 to API parameters. */
  function ListView(spec, query) {
    const filters = {};
    spec.filters.forEach((f) => { filters[f.key] = query.get(f.key) || ''; });
    const st = { items: [], next: null, total: 0, relation: 'eq', error: null };
    const pageSize = pageSizeOf(query);

    async function fetchPage(cursor) {
      const body = await api(spec.path, { params: { ...filters, size: pageSize, cursor } });
      st.items = cursor ? st.items.concat(body.items) : body.items;
      st.next = body.next_cursor;
      if (!cursor) { st.total = body.total; st.relation = body.total_relation || 'eq'; }
    }

    function render() {
      document.title = `${t(spec.titleKey)} · ${t('app.brand')}`;
      const form = h('form', { id: spec.name + '-filters', class: 'filters', role: 'search', 'aria-label': t('common.filters') },
        spec.filters.map((f) => field(f.labelKey, f.control(filters[f.key]))),
        h('div', { class: 'filter-buttons' },
          h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'filters-apply' }, t('common.apply')),
          h('button', { type: 'button', class: 'btn', onclick: () => { location.hash = spec.hash; } }, t('common.reset'))));
      const applyFilters = () => {
        const q = new URLSearchParams();
        spec.filters.forEach((f) => {
          const el = form.elements['x-' + f.key];
          const v = el ? String(el.value).trim() : '';
          if (v) q.set(f.key, f.toQuery ? f.toQuery(v) : v);
        });
        const target = spec.hash + (q.toString() ? '?' + q : '');
        if (location.hash === target) route(); else location.hash = target;
      };
      form.addEventListener('submit', (ev) => { ev.preventDefault(); applyFilters(); });
      form.querySelectorAll('select').forEach((el) => el.addEventListener('change', applyFilters));
      const more = h('button', {
        type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: !st.next,
        onclick: async () => { try { await fetchPage(st.next); render(); } catch (err) { reportError(err); } }
      }, t('common.loadMore'));
      const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: spec.name + '-table', 'data-testid': spec.name + '-table' },
        h('thead', {}, h('tr', {}, spec.columns.map((c) => h('th', { scope: 'col' }, t(c.labelKey))))),
        h('tbody', {}, st.items.length === 0
          ? h('tr', {}, h('td', { colspan: spec.columns.length, class: 'empty', 'data-testid': 'empty' }, t('common.empty')))
          : st.items.map((item) => h('tr', { 'data-testid': spec.name + '-row', ...(spec.rowAttrs ? spec.rowAttrs(item) : {}) },
            spec.columns.map((c) => h('td', { 'data-field': c.key }, c.cell(item))))))));
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t(spec.titleKey)),
          h('span', { id: spec.name + '-total', 'data-testid': 'list-total' },
            st.error ? '' : `${totalText(st.total, st.relation)} · ${t('common.shown', { n: fmtNum(st.items.length) })}`),
          spec.csv ? csvButton(spec.path, filters, spec.name) : null),
        spec.introKey ? h('p', { class: 'muted intro' }, t(spec.introKey)) : null,
        spec.extra ? spec.extra(filters) : null,
        form,
        st.error ? errorBox(st.error) : table,
        h('div', { class: 'pager' }, more));
    }

    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try { await fetchPage(null); } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }

    return { name: spec.nav || spec.name, load, render };
  }

  function textInput(id, value, placeholderKey) {
    return h('input', { id, type: 'text', value, placeholder: placeholderKey ? t(placeholderKey) : null });
  }

  /** A datetime-local input showing an RFC 3339 instant in Beijing time; its value goes back as +08:00. */
  function timeInput(id, value) {
    let shown = '';
    if (value && !isNaN(Date.parse(value))) {
      const p = parts(new Date(value), TZ);
      shown = `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
    }
    return h('input', { id, type: 'datetime-local', value: shown });
  }
  const fromLocal = (v) => (v.length === 16 ? v + ':00+08:00' : v);

  function textOf(alert, part) {
    const tx = alert.texts && alert.texts[lang];
    return (tx && tx[part]) || alert[part];
  }

  /** Hash of the findings list for the given API filters. */
  function findingsListHash(params) {
    const q = new URLSearchParams();
    Object.entries(params).forEach(([k, v]) => { if (v) q.set(k, v); });
    return '#/findings/list' + (q.toString() ? '?' + q : '');
  }

  /** Findings of an alert: its processor around its occurrences (7 days before the first to 1 hour after the
   * last), and its flow event when the message names one ("Event <id>: …" of the export alerts). */
  function alertFindingsHash(alert) {
    const first = Date.parse(alert.raised_at);
    const last = Date.parse(alert.last_raised_at || alert.raised_at);
    const m = /^Event ([^\s:]+)[:\s]/.exec(alert.message || '');
    return findingsListHash({
      processor_id: alert.processor_id, event_id: m ? m[1] : '',
      from: m ? '' : new Date(first - 7 * 86400000).toISOString(), to: m ? '' : new Date(last + 3600000).toISOString()
    });
  }

  // ------------------------------------------------------------------------------------------------
  // Findings list and one finding
  // ------------------------------------------------------------------------------------------------

  function FindingsListView(query) {
    return ListView({
      name: 'findings-list', nav: 'findings', hash: '#/findings/list', path: '/v1/findings',
      titleKey: 'findingsList.title', introKey: 'findingsList.intro',
      filters: [
        { key: 'processor_id', labelKey: 'filter.processor', control: (v) => textInput('x-processor_id', v, 'filter.processorPlaceholder') },
        { key: 'entity_type', labelKey: 'filter.entityType', control: (v) => textInput('x-entity_type', v, 'filter.entityTypePlaceholder') },
        { key: 'category', labelKey: 'filter.category', control: (v) => textInput('x-category', v) },
        { key: 'sensitive', labelKey: 'filter.sensitive', control: (v) => select('x-sensitive', (x) => t('sensitive.' + x), ['true', 'false'], v, true) },
        { key: 'event_id', labelKey: 'filter.eventId', control: (v) => textInput('x-event_id', v) },
        { key: 'from', labelKey: 'filter.from', control: (v) => timeInput('x-from', v), toQuery: fromLocal },
        { key: 'to', labelKey: 'filter.to', control: (v) => timeInput('x-to', v), toQuery: fromLocal },
        { key: 'q', labelKey: 'filter.q', control: (v) => h('input', { id: 'x-q', type: 'search', value: v, placeholder: t('filter.qPlaceholder') }) }
      ],
      rowAttrs: (f) => ({ 'data-finding-id': f.finding_id, 'data-processor': f.processor_id }),
      columns: [
        { key: 'occurred_at', labelKey: 'col.occurredAt', cell: (f) => h('span', { class: 'time' }, fmtTime(f.occurred_at)) },
        { key: 'event', labelKey: 'col.event', cell: (f) => h('a', { href: `#/findings/item/${encodeURIComponent(f.finding_id)}`, 'data-testid': 'finding-link' }, f.event_id) },
        { key: 'processor', labelKey: 'col.processor', cell: (f) => f.processor_id },
        { key: 'entities', labelKey: 'col.entityTypes', cell: (f) => (f.entity_types || []).map((e) => h('span', { class: 'badge entity-badge', 'data-value': e }, label('entity', e))) },
        { key: 'sensitive', labelKey: 'col.sensitive', cell: (f) => (f.sensitive ? h('span', { class: 'badge warn-badge' }, t('sensitive.true')) : t('sensitive.false')) },
        { key: 'flow', labelKey: 'col.flow', cell: (f) => `${f.source_region || '?'} → ${f.destination_region || '?'}` },
        { key: 'subjects', labelKey: 'col.subjects', cell: (f) => fmtNum(f.distinct_subjects) }
      ]
    }, query);
  }

  function FindingView(id) {
    const st = { f: null, error: null };
    function render() {
      document.title = `${t('finding.title')} · ${t('app.brand')}`;
      if (st.error) { mount(h('h1', { id: 'view-title' }, t('finding.title')), errorBox(st.error)); return; }
      const f = st.f;
      const entHead = ['col.entityType', 'col.category', 'col.sensitive', 'col.n', 'col.fields', 'col.samples'];
      mount(
        h('div', { class: 'view-head' }, h('h1', { id: 'view-title' }, t('finding.title')),
          h('a', { class: 'btn', href: findingsListHash({ processor_id: f.processor_id }), 'data-testid': 'finding-back' }, t('finding.back'))),
        h('section', { class: 'panel', 'aria-labelledby': 'event-title' },
          h('h2', { id: 'event-title' }, t('finding.event')),
          kv([
            ['finding.id', h('code', { 'data-testid': 'finding-id' }, f.finding_id)],
            ['finding.eventId', f.event_id, 'finding-event'],
            ['finding.processor', f.processor_name ? `${f.processor_name} (${f.processor_id})` : f.processor_id],
            ['finding.kind', f.kind], ['finding.activity', f.activity || t('common.dash')],
            ['finding.occurredAt', fmtTime(f.occurred_at)], ['finding.detectedAt', fmtTime(f.detected_at)],
            ['finding.flow', `${f.source_region || '?'} → ${f.destination_region || '?'}`],
            ['finding.records', fmtNum(f.record_count)], ['finding.textChars', fmtNum(f.text_chars)],
            ['finding.subjects', `${fmtNum(f.distinct_subjects)} (${f.subject_count_basis})`],
            ['finding.categories', h('span', { 'data-testid': 'finding-categories' }, (f.categories || []).map((c) => label('category', c)).join(t('common.listSep')))],
            ['finding.sensitive', f.sensitive ? t('sensitive.true') : t('sensitive.false')]
          ])),
        h('section', { class: 'panel', 'aria-labelledby': 'entities-title' },
          h('h2', { id: 'entities-title' }, t('finding.entities')),
          h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'finding-entities' },
            h('thead', {}, h('tr', {}, entHead.map((k) => h('th', { scope: 'col' }, t(k))))),
            h('tbody', {}, (f.entities || []).map((e) => h('tr', { 'data-testid': 'entity-row', 'data-type': e.type },
              h('td', {}, label('entity', e.type), h('span', { class: 'muted small' }, ` ${e.type}`)),
              h('td', {}, label('category', e.category)),
              h('td', {}, e.sensitive ? h('span', { class: 'badge warn-badge' }, t('sensitive.true')) : t('sensitive.false')),
              h('td', { class: 'num' }, fmtNum(e.count)),
              h('td', {}, (e.fields || []).map((x) => h('code', { class: 'field-name' }, x))),
              h('td', { 'data-testid': 'masked-samples' }, (e.masked_samples || []).map((x) => h('code', { class: 'sample' }, x))))))))));
    }
    async function load() {
      mount(h('p', { class: 'loading', 'aria-busy': 'true' }, t('common.loading')));
      try { st.f = await api(`/v1/findings/${encodeURIComponent(id)}`); } catch (err) { if (err.status === 401) throw err; st.error = err; }
    }
    return { name: 'findings', load, render };
  }

  // ------------------------------------------------------------------------------------------------
  // Audit log, dead letters, notifications
  // ------------------------------------------------------------------------------------------------

  const AUDIT_TARGETS = ['alert', 'incident', 'processor', 'restrictions', 'api_key', 'dead_letter', 'notification_route'];
  const DL_REASONS = ['invalid_json', 'schema_violation', 'too_large', 'key_mismatch', 'invalid_alert'];

  function AuditView(query) {
    return ListView({
      name: 'audit', hash: '#/audit', path: '/v1/audit', titleKey: 'audit.title', introKey: 'audit.intro', csv: true,
      filters: [
        { key: 'target_type', labelKey: 'filter.targetType', control: (v) => select('x-target_type', 'target', AUDIT_TARGETS, v, true) },
        { key: 'action', labelKey: 'filter.action', control: (v) => textInput('x-action', v, 'filter.actionPlaceholder') },
        { key: 'actor', labelKey: 'filter.actor', control: (v) => textInput('x-actor', v) },
        { key: 'processor_id', labelKey: 'filter.processor', control: (v) => textInput('x-processor_id', v, 'filter.processorPlaceholder') },
        { key: 'from', labelKey: 'filter.from', control: (v) => timeInput('x-from', v), toQuery: fromLocal },
        { key: 'to', labelKey: 'filter.to', control: (v) => timeInput('x-to', v), toQuery: fromLocal }
      ],
      rowAttrs: (a) => ({ 'data-action': a.action, 'data-target-type': a.target_type }),
      columns: [
        { key: 'at', labelKey: 'col.at', cell: (a) => h('span', { class: 'time' }, fmtTime(a.at)) },
        { key: 'actor', labelKey: 'col.actor', cell: (a) => [a.actor.name || a.actor.key_id, ' ', h('span', { class: 'muted small' }, label('role', a.actor.role))] },
        { key: 'action', labelKey: 'col.action', cell: (a) => h('code', {}, a.action) },
        { key: 'target', labelKey: 'col.target', cell: (a) => [label('target', a.target_type), ' ', h('code', {}, a.target_id)] },
        { key: 'processor', labelKey: 'col.processor', cell: (a) => a.processor_id || t('common.dash') },
        { key: 'reason', labelKey: 'col.reason', cell: (a) => a.reason || t('common.dash') },
        { key: 'details', labelKey: 'col.details', cell: (a) => (Object.keys(a.details || {}).length ? h('code', { class: 'details' }, JSON.stringify(a.details)) : t('common.dash')) }
      ]
    }, query);
  }

  function DeadLettersView(query) {
    return ListView({
      name: 'dead-letters', hash: '#/dead-letters', path: '/v1/dead-letters', titleKey: 'deadLetters.title', introKey: 'deadLetters.intro',
      filters: [
        { key: 'reason', labelKey: 'filter.reason', control: (v) => select('x-reason', 'dlReason', DL_REASONS, v, true) },
        { key: 'processor_id', labelKey: 'filter.processor', control: (v) => textInput('x-processor_id', v, 'filter.processorPlaceholder') },
        { key: 'event_id', labelKey: 'filter.eventId', control: (v) => textInput('x-event_id', v) },
        { key: 'q', labelKey: 'filter.q', control: (v) => h('input', { id: 'x-q', type: 'search', value: v, placeholder: t('deadLetters.qPlaceholder') }) }
      ],
      rowAttrs: (d) => ({ 'data-reason': d.reason, 'data-dead-letter-id': d.dead_letter_id, 'data-redriven': d.redrive ? d.redrive.state : 'no' }),
      columns: [
        { key: 'received_at', labelKey: 'col.receivedAt', cell: (d) => h('span', { class: 'time' }, fmtTime(d.received_at)) },
        { key: 'reason', labelKey: 'col.reason', cell: (d) => badge('dlReason', d.reason) },
        { key: 'error', labelKey: 'col.error', cell: (d) => h('span', { class: 'error-text' }, d.error) },
        { key: 'processor', labelKey: 'col.processor', cell: (d) => d.processor_id || t('common.dash') },
        { key: 'event', labelKey: 'col.event', cell: (d) => d.event_id || t('common.dash') },
        { key: 'size', labelKey: 'col.size', cell: (d) => fmtNum(d.size_bytes) },
        { key: 'original', labelKey: 'col.original', cell: (d) => h('code', { 'data-testid': 'dl-original' }, `${d.original.topic}/${d.original.partition ?? '?'}@${d.original.offset ?? '?'}`) },
        { key: 'redrive', labelKey: 'col.redrive', cell: (d) => (d.redrive ? t('deadLetters.redriven', { at: fmtTime(d.redrive.done_at || d.redrive.claimed_at), state: label('redriveState', d.redrive.state) }) : h('span', { class: 'muted' }, t('deadLetters.notRedriven'))) }
      ],
      extra: () => h('p', { class: 'muted small', 'data-testid': 'redrive-hint' }, t('deadLetters.redriveHint'))
    }, query);
  }

  /** The route editor of the notifications view (admin and SOC analyst): create, edit (an empty secret keeps the
   * stored one), enable/disable, delete. Every write goes through PUT/DELETE /v1/notification-routes (audited). */
  function routeEditor(route, onSaved) {
    const r = route || { route_id: '', name: '', enabled: true, language: 'zh+en', match: { severities: [], types: [], processor_ids: [] },
      channel: { kind: 'webhook', url: '', recipients: [], sender: '' } };
    const kinds = ['webhook', 'dingtalk', 'wecom', 'feishu', 'lark', 'email'];
    const idInput = h('input', { id: 'r-route_id', type: 'text', value: r.route_id, required: true, pattern: '[a-z0-9][a-z0-9_.\\-]{0,62}', readonly: route ? true : null });
    const sev = SEVERITIES.map((v) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'r-sev', value: v, checked: r.match.severities.includes(v) }), ' ', label('severity', v)));
    const form = h('form', { id: 'route-form', class: 'filters route-form', 'data-testid': 'route-form', novalidate: true },
      field('notify.routeId', idInput),
      field('col.name', h('input', { id: 'r-name', type: 'text', value: r.name, required: true })),
      field('col.channel', select('r-kind', 'channel', kinds, r.channel.kind, false)),
      field('notify.url', h('input', { id: 'r-url', type: 'text', value: r.channel.url, placeholder: 'https://…', required: true })),
      field('notify.secret', h('input', { id: 'r-secret', type: 'password', autocomplete: 'off', placeholder: route && r.channel.has_secret ? t('notify.secretKeep') : '' })),
      field('notify.sender', h('input', { id: 'r-sender', type: 'text', value: r.channel.sender || '' })),
      field('notify.recipients', h('input', { id: 'r-recipients', type: 'text', value: (r.channel.recipients || []).join(', ') })),
      h('fieldset', { class: 'field' }, h('legend', { class: 'field-label' }, t('col.severity')), sev),
      field('notify.types', h('input', { id: 'r-types', type: 'text', value: r.match.types.join(', '), placeholder: 'obligation_*, export_*' })),
      field('notify.processors', h('input', { id: 'r-processors', type: 'text', value: r.match.processor_ids.join(', ') })),
      field('col.language', select('r-language', 'routeLang', ['zh', 'en', 'zh+en'], r.language, false)),
      h('label', { class: 'check' }, h('input', { id: 'r-enabled', type: 'checkbox', checked: r.enabled }), ' ', t('col.enabled')),
      h('div', { class: 'filter-buttons' },
        h('button', { type: 'submit', id: 'route-save', class: 'btn btn-primary', 'data-testid': 'route-save' }, t('notify.save'))));
    const list = (v) => v.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const e = form.elements;
      const id = e['r-route_id'].value.trim();
      if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(id) || !e['r-name'].value.trim()) { toast(t('notify.invalid'), 'error'); return; }
      // an unchanged masked URL (as served) tells the service to keep the stored one
      const channel = { kind: e['r-kind'].value, url: e['r-url'].value.trim() };
      if (!channel.url) { toast(t('notify.urlNeeded'), 'error'); return; }
      if (e['r-secret'].value) channel.secret = e['r-secret'].value;
      if (channel.kind === 'email') { channel.sender = e['r-sender'].value.trim(); channel.recipients = list(e['r-recipients'].value); }
      const body = {
        name: e['r-name'].value.trim(), enabled: e['r-enabled'].checked, language: e['r-language'].value, channel,
        match: { severities: [...form.querySelectorAll('input[name=r-sev]:checked')].map((x) => x.value),
          types: list(e['r-types'].value), processor_ids: list(e['r-processors'].value) }
      };
      try {
        await api(`/v1/notification-routes/${encodeURIComponent(id)}`, { method: 'PUT', body });
        toast(t('notify.saved', { id }), 'info');
        onSaved();
      } catch (err) { reportError(err); }
    });
    return form;
  }

  function NotificationsView(query) {
    const st = { routes: null, rErr: null, editing: null };
    async function deleteRoute(r) {
      if (!window.confirm(t('notify.confirmDelete', { id: r.route_id }))) return;
      try {
        await api(`/v1/notification-routes/${encodeURIComponent(r.route_id)}`, { method: 'DELETE', raw: true });
        toast(t('notify.deleted', { id: r.route_id }), 'info');
        route();
      } catch (err) { reportError(err); }
    }
    const list = ListView({
      name: 'notifications', hash: '#/notifications', path: '/v1/notifications', titleKey: 'notify.title', introKey: 'notify.intro',
      filters: [
        { key: 'state', labelKey: 'filter.state', control: (v) => select('x-state', 'notifyState', ['delivered', 'dead_lettered', 'sending'], v, true) },
        { key: 'route_id', labelKey: 'filter.route', control: (v) => textInput('x-route_id', v) },
        { key: 'processor_id', labelKey: 'filter.processor', control: (v) => textInput('x-processor_id', v, 'filter.processorPlaceholder') }
      ],
      rowAttrs: (n) => ({ 'data-state': n.state, 'data-route': n.route_id }),
      columns: [
        { key: 'created_at', labelKey: 'col.at', cell: (n) => h('span', { class: 'time' }, fmtTime(n.created_at)) },
        { key: 'route', labelKey: 'col.route', cell: (n) => [n.route_id, ' ', h('span', { class: 'muted small' }, label('channel', n.channel_kind))] },
        { key: 'severity', labelKey: 'col.severity', cell: (n) => badge('severity', n.severity) },
        { key: 'title', labelKey: 'col.title', cell: (n) => (lang === 'zh' && n.title_zh ? n.title_zh : n.title) },
        { key: 'processor', labelKey: 'col.processor', cell: (n) => n.processor_id },
        { key: 'state', labelKey: 'col.state', cell: (n) => badge('notifyState', n.state) },
        { key: 'tries', labelKey: 'col.tries', cell: (n) => fmtNum((n.attempts || []).length) },
        { key: 'error', labelKey: 'col.error', cell: (n) => n.last_error || t('common.dash') }
      ],
      extra: () => (st.rErr ? errorBox(st.rErr) : h('section', { class: 'panel', 'aria-labelledby': 'routes-title' },
        h('h2', { id: 'routes-title' }, t('notify.routes')),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'routes-table' },
          h('thead', {}, h('tr', {}, ['col.route', 'col.name', 'col.channel', 'col.match', 'col.language', 'col.enabled', 'col.updatedBy', 'col.actions'].map((k) => h('th', { scope: 'col' }, t(k))))),
          h('tbody', {}, (st.routes || []).length === 0
            ? h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('notify.noRoutes')))
            : st.routes.map((r) => h('tr', { 'data-testid': 'route-row', 'data-route': r.route_id, 'data-enabled': String(r.enabled) },
              h('td', {}, h('code', {}, r.route_id)), h('td', {}, r.name),
              h('td', {}, label('channel', r.channel.kind), ' ', h('code', { class: 'small' }, r.channel.url), r.channel.has_secret ? h('span', { class: 'muted small' }, ' ' + t('notify.signed')) : null),
              h('td', {}, [
                r.match.severities.length ? r.match.severities.map((x) => label('severity', x)).join(t('common.listSep')) : t('notify.anySeverity'),
                ' · ', r.match.types.length ? r.match.types.join(', ') : t('notify.anyType'),
                ' · ', r.match.processor_ids.length ? r.match.processor_ids.join(', ') : t('notify.anyProcessor')]),
              h('td', {}, label('routeLang', r.language)), h('td', {}, r.enabled ? t('common.yes') : t('common.no')),
              h('td', {}, r.updated_by, ' ', h('span', { class: 'muted small' }, fmtTime(r.updated_at))),
              h('td', {}, mayTriage() ? h('div', { class: 'row-actions' },
                h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'route-edit', onclick: () => { st.editing = r; list.render(); } }, t('notify.edit')),
                h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'route-delete', onclick: () => deleteRoute(r) }, t('notify.delete')))
                : h('span', { class: 'muted small' }, t('alerts.readOnly')))))))),
        h('p', { class: 'muted small' }, t('notify.manageHint')),
        mayTriage() ? h('section', { class: 'panel', 'aria-labelledby': 'route-editor-title' },
          h('h3', { id: 'route-editor-title' }, st.editing ? t('notify.editRoute', { id: st.editing.route_id }) : t('notify.newRoute')),
          routeEditor(st.editing, () => { st.editing = null; route(); }),
          st.editing ? h('button', { type: 'button', class: 'btn', onclick: () => { st.editing = null; list.render(); } }, t('common.cancel')) : null) : null))
    }, query);
    const load = async () => {
      const [routes] = await Promise.allSettled([api('/v1/notification-routes'), list.load()]);
      if (routes.status === 'fulfilled') st.routes = routes.value.items;
      else if (routes.reason && routes.reason.status === 401) throw routes.reason;
      else st.rErr = routes.reason;
    };
    return { name: 'notifications', load, render: list.render };
  }

  function NotFoundView() {
    return {
      name: '', load: async () => {},
      render: () => mount(h('h1', { id: 'view-title' }, t('error.notFoundView')))
    };
  }

  // ------------------------------------------------------------------------------------------------
  // Router and start-up
  // ------------------------------------------------------------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/alerts';
    const at = raw.indexOf('?');
    const path = at >= 0 ? raw.slice(0, at) : raw;
    const query = new URLSearchParams(at >= 0 ? raw.slice(at + 1) : '');
    return { segs: path.split('/').filter(Boolean).map((x) => decodeURIComponent(x)), query };
  }

  async function route() {
    if (!getKey()) { showLogin(); return; }
    document.body.classList.remove('logged-out');
    const seq = ++routeSeq;
    const { segs, query } = parseHash();
    const name = segs[0] || 'alerts';
    let view;
    if (name === 'alerts') view = AlertsView(query);
    else if (name === 'incidents') view = segs[1] ? IncidentView(segs[1], query) : IncidentsView(query);
    else if (name === 'exports') view = ExportsView(query);
    else if (name === 'findings' && segs[1] === 'list') view = FindingsListView(query);
    else if (name === 'findings' && segs[1] === 'item' && segs[2]) view = FindingView(segs[2]);
    else if (name === 'findings') view = FindingsView(query);
    else if (name === 'audit') view = AuditView(query);
    else if (name === 'dead-letters') view = DeadLettersView(query);
    else if (name === 'notifications') view = NotificationsView(query);
    else view = NotFoundView();
    document.querySelectorAll('#nav a').forEach((a) => {
      if (a.dataset.view === view.name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    current = view;
    try {
      await Promise.all([loadMe(), view.load()]);  // who is signed in: the view shows only what the role may do
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;  // the key prompt is showing
      throw err;
    }
    if (seq !== routeSeq) return;
    view.ready = true;
    view.render();
    document.body.dataset.view = view.name;
    document.body.dataset.ready = String(seq);
  }

  function setLanguage(next) {
    lang = next;
    localStorage.setItem(LANG_STORE, lang);
    applyStatic();
    renderWhoami();
    if (current && current.ready) current.render();
  }

  document.getElementById('lang-toggle').addEventListener('click', () => setLanguage(lang === 'zh' ? 'en' : 'zh'));
  document.getElementById('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    showLogin('login.signedOut');
  });
  window.addEventListener('hashchange', () => { if (getKey()) route(); });

  applyStatic();
  route();
})();
