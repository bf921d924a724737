/* doorctl installer UI: one page over the device API (docs/http-api.md). No framework, no build.
 * The device serves at most 4 connections at once, so requests go out one at a time (a queue),
 * and only the visible view polls. Data is put into the page as text, never as HTML. */
'use strict';

const KEY = 'doorctl.token';
const FORMATS = [
  ['8HN', '8HN: 8 hex digits, read order (default)'],
  ['8HR', '8HR: 8 hex digits, reversed'],
  ['10D', '10D: 10 decimal digits'],
  ['10DR', '10DR: 10 decimal digits, reversed'],
  ['6H3D5D', '6H3D5D: facility 3 + card 5 digits (Wiegand-26)'],
  ['6H3D5DR', '6H3D5DR: the same, reversed'],
  ['FULLH', 'FULLH: every UID byte in hex'],
];
const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const sleep = ms => new Promise(r => setTimeout(r, ms));
const go = hash => { if (location.hash === hash) route(); else location.hash = hash; };

/* --- DOM helper: h('td', {class: 'x'}, 'text', child) ------------------------------------- */
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/* --- API ------------------------------------------------------------------------------- */
class ApiError extends Error {
  constructor(status, message, field) { super(message); this.status = status; this.field = field; }
}
let queue = Promise.resolve();

function api(method, path, body) {
  const run = () => call(method, path, body, 0);
  const p = queue.then(run, run);
  queue = p.catch(() => {});
  return p;
}

async function call(method, path, body, tries) {
  const headers = {};
  const tok = sessionStorage.getItem(KEY);
  if (tok) headers.Authorization = 'Bearer ' + tok;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r, text;
  try {
    // credentials 'omit': the token goes in the header; without it a 401 carrying
    // WWW-Authenticate: Basic would make the browser pop up its own password dialog
    r = await fetch(path, {method, headers, credentials: 'omit', referrerPolicy: 'no-referrer',
      body: body === undefined ? undefined : JSON.stringify(body)});
    text = await r.text();
  } catch (e) {
    // no answer, or the connection dropped in the middle of one (a busy device): a GET is
    // asked again; anything else may have been done, so the error is shown
    if (method === 'GET' && tries < 2) {
      await sleep(300 * (tries + 1));
      return call(method, path, body, tries + 1);
    }
    throw new ApiError(0, 'the device does not answer');
  }
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  // 503: all connections busy (nothing was done: try again shortly), or short of memory. GET,
  // PUT and PATCH (absolute values) are safe to repeat; a POST or DELETE may have been done
  // before the answer failed, so that error is shown instead of repeating it
  if (r.status === 503 && tries < 3 && (/^(GET|PUT|PATCH)$/.test(method) || (doc && doc.error === 'busy'))) {
    await sleep(300 * (tries + 1));
    return call(method, path, body, tries + 1);
  }
  if (r.ok) return doc;
  const err = new ApiError(r.status, (doc && doc.error) || 'HTTP ' + r.status, doc && doc.field);
  if (r.status === 401 && path !== '/api/v1/login' && path !== '/api/v1/password') {
    signOut('Your session has ended: sign in again.');
  } else if (r.status === 403 && /password/.test(err.message)) {
    firstBoot = true;
    go('#password');
  }
  throw err;
}

/* --- errors next to the field the API names ------------------------------------------- */
function fieldEl(form, field) {
  // "users[0].plates[1].from" -> "plates.1.from", then "plates.1", then "plates"
  let f = String(field).replace(/\[(\d+)\]/g, '.$1').replace(/^users\.\d+\./, '');
  while (f) {
    const el = $$('[data-field]', form).find(e => e.dataset.field === f);
    if (el) return el;
    const i = f.lastIndexOf('.');
    f = i < 0 ? '' : f.slice(0, i);
  }
  return null;
}

function errBox(el) {
  const host = el.tagName === 'FIELDSET' ? el : el.closest('label') || el.parentNode;
  let b = Array.from(host.children).find(c => c.classList.contains('err'));
  if (!b) b = host.appendChild(h('small', {class: 'err'}));
  return b;
}

function clearErrors(form) {
  $$('.err', form).forEach(e => { e.textContent = ''; });
  $$('[aria-invalid]', form).forEach(e => e.removeAttribute('aria-invalid'));
}

function showError(form, err) {
  const el = err.field ? fieldEl(form, err.field) : null;
  if (el) {
    el.setAttribute('aria-invalid', 'true');
    errBox(el).textContent = err.message;
    if (el.focus) el.focus();
  } else {
    $('.form-err', form).textContent = err.message + (err.field ? ' (' + err.field + ')' : '');
  }
}

/* submit handler wrapper: clears old errors, disables the button, shows errors in the form */
function onSubmit(form, fn) {
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    const btns = $$('button', form);
    btns.forEach(b => { b.disabled = true; });
    try {
      await fn(form);
    } catch (e) {
      if (e instanceof ApiError) showError(form, e); else throw e;
    } finally {
      btns.forEach(b => { b.disabled = false; });
    }
  });
}

let bannerTimer = 0;
function banner(text, isError) {
  const b = $('#banner');
  b.textContent = text;
  b.className = isError ? 'error' : '';
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, isError ? 8000 : 4000);
}


/* --- settings forms built from a list of fields ----------------------------------------
   A field is [key, label, type, hint, suggestions]: type 'b' checkbox, 'n' whole number, 't' text,
   'relay' one of the board's relays, 'relays' several, or a list of [value, label] choices.
   Each element's data-field is its config path ("time.tz"), the name the API's errors use; a
   form's PATCH is every such element's value put back at its path. Numbers the page can't read
   go to the device as typed: its validators answer, naming the field. */
const at = (obj, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);

function put(obj, path, v) {
  const ks = path.split('.'), last = ks.pop();
  for (const k of ks) obj = obj[k] = obj[k] || {};
  obj[last] = v;
}

function field(prefix, [key, label, type, hint, list], cfg) {
  const path = prefix + '.' + key, v = at(cfg, path), name = key.split('.').pop();
  const tip = hint && h('small', {class: 'hint'}, hint);
  if (type === 'b') {
    return h('label', {class: 'check'}, h('input', {type: 'checkbox', name, 'data-field': path, 'data-t': 'b', checked: !!v}),
      label, tip && ' ', tip);
  }
  if (type === 'relays') {
    return h('fieldset', {'data-field': path, 'data-t': 'relays'}, h('legend', {}, label),
      Object.keys(cfg.relays).map(id => h('label', {class: 'check'},
        h('input', {type: 'checkbox', value: id, checked: (v || []).indexOf(+id) >= 0}), 'Relay ' + id)), tip);
  }
  let inp;
  if (type === 'relay' || Array.isArray(type)) {
    const opts = type === 'relay' ? Object.keys(cfg.relays).map(id => [id, 'Relay ' + id]) : type;
    inp = h('select', {name, 'data-field': path, 'data-t': typeof v === 'number' ? 'n' : 't'},
      opts.map(([o, text]) => h('option', {value: o, selected: String(v) === o}, text)));
  } else {
    inp = h('input', {name, 'data-field': path, 'data-t': type, value: v == null ? '' : String(v),
      inputmode: type === 'n' ? 'numeric' : null, list, autocomplete: 'off', spellcheck: 'false'});
  }
  return h('label', {class: /url$|^tz$/.test(key) ? 'wide' : null}, label, inp, tip);
}

/* the form's values as a partial config */
function collect(form) {
  const out = {};
  $$('[data-t]', form).forEach(el => {
    const t = el.dataset.t, raw = el.value;
    let v = raw;
    if (t === 'b') v = el.checked;
    else if (t === 'relays') v = $$('input:checked', el).map(c => +c.value);
    else if (t === 'n') v = /^\s*-?\d+\s*$/.test(raw) ? +raw : raw.trim();
    put(out, el.dataset.field, v);
  });
  return out;
}

/* a view that is one form over one config section: fill it, PATCH it, fill it from the answer */
function sectionView(id, sec, fields, title, after) {
  const form = $('#' + id + '-form');
  const fill = cfg => {
    clearErrors(form);
    $('.fields', form).replaceChildren(...(typeof fields === 'function' ? fields(cfg) : fields)
      .map(f => field(sec, f, cfg)));
    if (after) after(cfg, form);
  };
  onSubmit(form, async f => {
    fill(await api('PATCH', '/api/v1/config', collect(f)));
    banner(title + ' saved.');
  });
  return async () => fill(await api('GET', '/api/v1/config'));
}

/* --- session --------------------------------------------------------------------------- */
let firstBoot = false;

function signOut(message) {
  sessionStorage.removeItem(KEY);
  firstBoot = false;
  $$('input[type=password]').forEach(i => { i.value = ''; });
  $('#top').hidden = true;
  const f = $('#login-form');
  clearErrors(f);
  if (message) $('.form-err', f).textContent = message;
  go('#login');
}

onSubmit($('#login-form'), async f => {
  const doc = await api('POST', '/api/v1/login', {username: f.username.value, password: f.password.value});
  f.password.value = '';
  sessionStorage.setItem(KEY, doc.token);
  firstBoot = !!doc.password_change_required;
  go(firstBoot ? '#password' : (/^#(login|password)?$/.test(location.hash) ? '#status' : location.hash));
});

onSubmit($('#password-form'), async f => {
  if (f.new.value !== f.again.value) throw new ApiError(0, 'the two new passwords differ', 'again');
  await api('POST', '/api/v1/password', {old: f.old.value, new: f.new.value});
  // the change revokes every token: sign in again with the new password, then forget it
  const doc = await api('POST', '/api/v1/login', {username: 'admin', password: f.new.value});
  $$('input', f).forEach(i => { i.value = ''; });
  sessionStorage.setItem(KEY, doc.token);
  firstBoot = false;
  banner('Password changed.');
  go('#status');
});

$('#signout').addEventListener('click', () => signOut('Signed out.'));

/* --- views and polling ------------------------------------------------------------------ */
let pollGen = 0;

/* run fn every ms while the view that started it (route generation gen) is on screen */
function poll(fn, ms, gen) {
  const tick = async () => {
    if (gen !== pollGen) return;
    try { await fn(); } catch (e) { if (gen === pollGen && e instanceof ApiError && e.status) banner(e.message, true); }
    if (gen === pollGen) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

const VIEWS = {
  login: () => { $('#login-form').password.focus(); },
  password: () => {
    $('#first-boot').hidden = !firstBoot;
    $('#top').hidden = firstBoot;
  },
  status: viewStatus, users: viewUsers, user: viewUser,
  relays: viewRelays, inputs: viewInputs, card: viewCard, ble: viewBle, events: viewEvents,
  settings: viewSettings, httpopen: viewHttpOpen, lpr: viewLpr,
  // (section views are made further down: looked up when shown)
  verify: (a, g) => viewVerify(a, g), time: (a, g) => viewTime(a, g), network: () => viewNetwork(),
  access: () => viewAccess(), wiegand: () => viewWiegand(), schedules: viewSchedules,
};
// the navigation entry a view is under
const UNDER = {user: 'users', password: 'settings', card: 'settings', ble: 'settings', verify: 'settings', time: 'settings',
  network: 'settings', access: 'settings', httpopen: 'settings', lpr: 'settings', wiegand: 'settings',
  schedules: 'settings'};

async function route() {
  const gen = ++pollGen;
  let [name, arg] = location.hash.slice(1).split('/');
  if (!sessionStorage.getItem(KEY)) name = 'login';
  else if (firstBoot) name = 'password';
  else if (name === 'users' && arg) name = 'user';
  else if (!VIEWS[name] || name === 'login') name = 'status';
  $$('main > section').forEach(s => { s.hidden = s.id !== 'v-' + name; });
  $$('#nav a').forEach(a => {
    if (a.getAttribute('href') === '#' + (UNDER[name] || name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  if (name !== 'login' && name !== 'password') $('#top').hidden = false;
  try {
    await VIEWS[name](arg, gen);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status !== 401) banner(e.message, true);
  }
}
window.addEventListener('hashchange', route);

/* --- status ------------------------------------------------------------------------------ */
function duration(s) {
  const d = Math.floor(s / 86400), hr = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + ' d ' : '') + (d || hr ? hr + ' h ' : '') + m + ' min ' + (s % 60) + ' s';
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : 'clock not set'; }

// "3 days 4 hours", "5 minutes": the largest unit and the next one
function inWords(s) {
  const U = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  const w = (k, u) => k + ' ' + u + (k === 1 ? '' : 's');
  s = Math.max(0, Math.floor(s));
  for (let i = 0; i < 3; i++) {
    const [n, u] = U[i], [m, v] = U[i + 1];
    if (s >= n) {
      const k = Math.floor(s / n), j = Math.floor((s - k * n) / m);
      return w(k, u) + (j ? ' ' + w(j, v) : '');
    }
  }
  return w(s, 'second');
}
const bytes = n => n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.round(n / 1024) + ' KB';

const READER = {ok: 'Working', init: 'Starting', starting: 'Starting', error: 'Not answering: trying again',
  reinit: 'Restarting after errors', stopped: 'Stopped'};

function readerWords(r) {
  if (!r) return 'No card reader';
  let t = READER[r.status] || r.status;
  if (r.firmware && r.firmware.length > 2) t += ' (PN532 firmware ' + r.firmware[1] + '.' + r.firmware[2] + ')';
  const bits = [r.cards + (r.cards === 1 ? ' card' : ' cards') + ' read'];
  bits.push(r.errors ? r.errors + (r.errors === 1 ? ' error' : ' errors') : 'no errors');
  if (r.reinits) bits.push('restarted ' + r.reinits + (r.reinits === 1 ? ' time' : ' times'));
  if (r.no_heap) bits.push(r.no_heap + ' reads waited for memory');
  t += '; ' + bits.join(', ') + ' since start';
  if (r.last_error && r.status !== 'ok') t += '. Last error: ' + r.last_error;
  return t;
}

function clockWords(c) {
  if (!c || !c.set) return 'Not set: schedules and validity dates can\u2019t be checked until NTP or the board\u2019s clock sets it';
  let t = new Date(c.now * 1000).toLocaleString() + ' (your browser\u2019s time zone); door time zone ' + c.tz;
  if (c.source === 'ntp' && c.synced_at) t += '; synced by NTP ' + inWords(Math.max(0, c.now - c.synced_at)) + ' ago';
  else if (c.source) t += '; set from ' + (c.source === 'rtc' ? 'the board\u2019s clock' : c.source);
  return t;
}

/* one box per relay: its state, the door sensors watching it, their alarms */
function doorBoxes(st, rel, cfg) {
  const inputs = st.inputs || {}, alarms = st.alarms || {}, boxes = {};
  for (const id of Object.keys(rel).sort((a, b) => a - b)) {
    const r = rel[id];
    boxes[id] = h('div', {class: 'box door', id: 'door-' + id},
      h('h2', {}, 'Relay ' + id + ' ', h('span', {class: r.on ? 'state on' : 'state', 'data-relay': id},
        r.on ? 'unlocked' + (r.remaining_ms ? ', ' + Math.ceil(r.remaining_ms / 1000) + ' s left' : '') : 'locked')));
  }
  const other = h('div', {class: 'box door', id: 'door-other'}, h('h2', {}, 'Other inputs'));
  for (const name of Object.keys(inputs)) {
    const i = inputs[name], c = (cfg.inputs || {})[name] || {}, a = alarms[name];
    const door = i.kind === 'door_sensor';
    const what = door ? 'Door sensor \u201c' + name + '\u201d: ' : (i.kind === 'exit_button' ? 'Exit button' : 'Input') + ' \u201c' + name + '\u201d: ';
    const state = c.enabled === false ? 'not used' : door ? (i.active ? 'door open' : 'door closed') : (i.active ? 'pressed' : 'not pressed');
    const p = h('p', {'data-input': name}, what, h('strong', {class: i.active && door ? 'open' : ''}, state));
    const box = (door && boxes[c.door_relay]) || (!door && c.relay && boxes[c.relay]) || other;
    box.append(p);
    if (a && a.forced) {
      box.append(h('div', {class: 'alarm', 'data-alarm': name},
        h('strong', {}, 'Forced door: '), 'the door opened while nobody was let in. The alarm stays on until cleared. ',
        h('button', {type: 'button', class: 'danger', 'data-clear': name}, 'Clear alarm')));
    }
    if (a && a.held_open) {
      box.append(h('div', {class: 'alarm', 'data-alarm': name},
        h('strong', {}, 'Held open: '), 'the door has been open longer than ' + inWords(c.door_opened_timeout_s || 0) + '.'));
    }
  }
  const out = Object.values(boxes);
  if (other.children.length > 1) out.push(other);
  return out;
}

async function viewStatus(arg, gen) {
  const cfg = await api('GET', '/api/v1/config');
  let last = '';
  const show = async () => {
    const st = await api('GET', '/api/v1/status');
    const rel = await api('GET', '/api/v1/relays');
    if (gen !== pollGen) return;
    $('#device').textContent = st.device_id || 'doorctl';
    const doors = JSON.stringify([rel, st.inputs, st.alarms]);
    if (doors !== last) {  // built again only when it changed: a button stays put under the finger
      last = doors;
      $('#doors').replaceChildren(...doorBoxes(st, rel, cfg));
    }
    const note = $('#restart-note');
    note.hidden = !st.restart_required;
    note.textContent = 'A saved setting (the card format) is used after the next restart.';
    const t = st.table || {};
    const rows = [
      ['reader', 'Card reader', readerWords(st.reader)],
      ['clock', 'Clock', clockWords(st.clock)],
      ['users', 'Users', st.users + (st.users === 1 ? ' user' : ' users') + ' in the table (serial ' + t.serial + ')' +
        (t.journal ? '; ' + t.journal + (t.journal === 1 ? ' recent edit' : ' recent edits') + ' not merged yet' : '')],
      ['events', 'Events', st.events.last_seq + ' logged since the log began (it keeps the last ' + st.events.capacity + ')'],
      ['memory', 'Memory', bytes(st.heap_free) + ' free of ' + bytes(st.heap_free + st.heap_used)],
      ['uptime', 'Running for', inWords(st.uptime_s)],
      ['version', 'Firmware', 'doorctl ' + st.version + ' on board ' + st.board + (st.profile ? ' (' + st.profile + ')' : '')],
      ['card_format', 'Card format', st.card_format],
    ];
    $('#status-list').replaceChildren(...rows.map(([k, label, v]) => [h('dt', {}, label), h('dd', {'data-key': k}, v)]).flat());
  };
  await show();
  poll(show, 3000, gen);
}

$('#doors').addEventListener('click', async ev => {
  const name = ev.target.dataset && ev.target.dataset.clear;
  if (!name) return;
  ev.target.disabled = true;
  try {
    await api('POST', '/api/v1/alarms/clear', {input: name});
    banner('Alarm of \u201c' + name + '\u201d cleared.');
    route();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    banner(e.message, true);
    ev.target.disabled = false;
  }
});

/* --- users ---------------------------------------------------------------------------------
   Pages by cursor: the device answers the users with id > after, and `next` (the cursor of the
   following page, null at the end). Previous goes back through the cursors of the pages seen.
   A search page may end early (the device reads a bounded number of users per request): the
   list asks on from its cursor, a few times, to fill the page. */
const PAGE = 50, SEARCH_ASKS = 8;
let userAfter = 0, userNext = null, userBack = [], userTimer = 0;

async function loadUsers() {
  const q = $('#user-q').value.trim();
  const err = $('#users-err');
  err.textContent = '';
  let users = [], next = userAfter, total = 0;
  try {
    for (let i = 0; i < SEARCH_ASKS && users.length < PAGE && next !== null; i++) {
      const doc = await api('GET', '/api/v1/users?after=' + next + '&limit=' + (PAGE - users.length) +
        (q ? '&q=' + encodeURIComponent(q) : ''));
      users = users.concat(doc.users);
      next = doc.next;
      total = doc.total;
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    err.textContent = e.status === 404 ? 'This firmware has no users API.' : e.message;
    return;
  }
  userNext = next;
  const rows = users.map(u => h('tr', {'data-id': u.id},
    h('td', {}, h('a', {href: '#users/' + u.id}, u.id)),
    h('td', {}, u.name || ''),
    h('td', {}, u.role || 'user'),
    h('td', {}, (u.cards || []).join(', ')),
    h('td', {}, (u.relays || []).join(', ')),
    h('td', {}, [u.has_pin && 'PIN', u.has_qr && 'QR', u.has_ble && 'BLE',
      (u.plates || []).length && (u.plates.length + ' plate(s)')].filter(Boolean).join(', '))));
  $('#user-rows').replaceChildren(...rows);
  let text = 'page ' + (userBack.length + 1);
  if (users.length) text += ': ids ' + users[0].id + '-' + users[users.length - 1].id;
  else text += q ? ': no match' : ': no users';
  if (q && next !== null) text += ' (searched up to id ' + next + ')';
  $('#user-page').textContent = text + ' \u00b7 ' + total + ' users';
  $('#user-prev').disabled = userBack.length === 0;
  $('#user-next').disabled = next === null;
}

function firstUsers() { userAfter = 0; userBack = []; return loadUsers(); }

async function viewUsers() { await loadUsers(); }

$('#user-q').addEventListener('input', () => {
  clearTimeout(userTimer);
  userTimer = setTimeout(firstUsers, 300);
});
$('#user-prev').addEventListener('click', () => {
  if (!userBack.length) return;
  userAfter = userBack.pop();
  loadUsers();
});
$('#user-next').addEventListener('click', () => {
  if (userNext === null) return;
  userBack.push(userAfter);
  userAfter = userNext;
  loadUsers();
});

let editing = null;  // the user being edited (as the API sent it), null when adding

function plateRow(p) {
  const row = h('div', {class: 'row'});
  const sync = () => $$('#plate-rows > .row').forEach((r, i) => {
    r.dataset.field = 'plates.' + i;
    $$('input', r).forEach(inp => { inp.dataset.field = 'plates.' + i + '.' + inp.name; });
  });
  row.append(
    h('input', {name: 'plate', 'aria-label': 'Plate', placeholder: 'AB12CDE', value: p.plate || ''}),
    h('input', {name: 'from', 'aria-label': 'From', type: 'datetime-local', value: p.from || ''}),
    h('input', {name: 'to', 'aria-label': 'To', type: 'datetime-local', value: p.to || ''}),
    h('button', {type: 'button', class: 'secondary', onclick: () => { row.remove(); sync(); }}, 'Remove'));
  $('#plate-rows').append(row);
  sync();
}
$('#plate-add').addEventListener('click', () => plateRow({}));

async function viewUser(arg) {
  const f = $('#user-form');
  // the form shows at once, but is filled in after the device answers: until then it takes no
  // typing (it would be overwritten)
  const busy = on => { for (const el of f.elements) el.disabled = on; };
  busy(true);
  try {
    await fillUser(f, arg);
  } finally {
    busy(false);
  }
}

async function fillUser(f, arg) {
  const E = f.elements;
  clearErrors(f);
  f.reset();
  $('#plate-rows').replaceChildren();
  const cfg = await api('GET', '/api/v1/config');
  $('#user-fmt').textContent = cfg.card.format;
  editing = arg === 'new' ? null : await api('GET', '/api/v1/users/' + encodeURIComponent(arg));
  const u = editing || {relays: [1]};
  $('#user-title').textContent = editing ? 'User ' + u.id : 'Add user';
  $('#user-delete').hidden = !editing;
  $('#phone-form').hidden = !editing;
  $('#phone-code').hidden = true;
  clearErrors($('#phone-form'));
  E.id.value = u.id == null ? '' : u.id;
  E.id.readOnly = !!editing;
  E.name.value = u.name || '';
  E.role.value = u.role || 'user';
  E.phone.value = u.phone || '';
  E.cards.value = (u.cards || []).join(', ');
  for (const k of ['pin', 'qr', 'ble']) {
    const set = editing && u['has_' + k];
    $('[data-hint=' + k + ']').replaceChildren(set ?
      h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'clear_' + k}), 'set; leave empty to keep, tick to remove') : '');
  }
  (u.plates || []).forEach(plateRow);
  $('#user-relays').replaceChildren(...Object.keys(cfg.relays).map(id =>
    h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'relay', value: id,
      checked: (u.relays || []).indexOf(+id) >= 0}), 'Relay ' + id)));
  E.schedules.value = (u.schedules || []).join(', ');
  const own = (await api('GET', '/api/v1/schedules')).schedules;
  $('#user-schedules').textContent = 'Always, Never' + own.map(s => ', ' + s.name + ' (' + s.id + ')').join('') +
    ' (Settings, Schedules)';
  E.valid_from.value = u.valid_from || '';
  E.valid_to.value = u.valid_to || '';
  E.floors.value = (u.floors || []).join(', ');
  E.web_relay.value = u.web_relay || '';
  E.relay_schedule_activation.checked = !!u.relay_schedule_activation;
}

const words = s => s.split(/[\s,;]+/).filter(Boolean);

function numbers(text, field) {
  return words(text).map(w => {
    if (!/^\d+$/.test(w)) throw new ApiError(0, 'must be whole numbers separated by commas', field);
    return +w;
  });
}

/* the form as a user document (docs/user-model.md); defaults are left out */
function formUser(f) {
  const E = f.elements;
  if (!/^\d+$/.test(E.id.value.trim())) throw new ApiError(0, 'a number 1-4294967294 is required', 'id');
  const u = {id: +E.id.value.trim(), name: E.name.value.trim(), role: E.role.value};
  if (E.phone.value.trim()) u.phone = E.phone.value.trim();
  u.cards = words(E.cards.value);
  for (const k of ['pin', 'qr', 'ble']) {
    const clear = E.namedItem('clear_' + k);
    if (E[k].value) u[k] = E[k].value;
    else if (clear && clear.checked) u[k] = null;
  }
  u.plates = $$('#plate-rows > .row').map(r => {
    const p = {plate: $('[name=plate]', r).value.trim()};
    const from = $('[name=from]', r).value, to = $('[name=to]', r).value;
    if (from) p.from = from;
    if (to) p.to = to;
    return p;
  }).filter(p => p.plate || p.from || p.to);
  u.relays = $$('[name=relay]', f).filter(c => c.checked).map(c => +c.value);
  // schedule names may hold spaces ("Office hours"): only commas separate them
  const sched = E.schedules.value.split(/[,;]/).map(s => s.trim()).filter(Boolean).map(s => /^\d+$/.test(s) ? +s : s);
  if (sched.length && !(sched.length === 1 && sched[0] === 'Always')) u.schedules = sched;
  if (E.valid_from.value) u.valid_from = E.valid_from.value;
  if (E.valid_to.value) u.valid_to = E.valid_to.value;
  const floors = numbers(E.floors.value, 'floors');
  if (floors.length) u.floors = floors;
  if (E.web_relay.value.trim()) u.web_relay = numbers(E.web_relay.value, 'web_relay')[0] || 0;
  if (E.relay_schedule_activation.checked) u.relay_schedule_activation = true;
  return u;
}

onSubmit($('#user-form'), async f => {
  const u = formUser(f);
  if (editing) await api('PUT', '/api/v1/users/' + editing.id, u);
  else await api('POST', '/api/v1/users', u);
  $$('input[type=password]', f).forEach(i => { i.value = ''; });
  banner((editing ? 'User ' + u.id + ' saved.' : 'User ' + u.id + ' added.'));
  go('#users');
});

$('#user-delete').addEventListener('click', async () => {
  const f = $('#user-form');
  if (!editing || !confirm('Delete user ' + editing.id + ' (' + (editing.name || 'no name') + ')?')) return;
  clearErrors(f);
  try {
    await api('DELETE', '/api/v1/users/' + editing.id);
    banner('User ' + editing.id + ' deleted.');
    go('#users');
  } catch (e) {
    if (e instanceof ApiError) showError(f, e); else throw e;
  }
});

const RELAY_FIELDS = [['hold_ms', 'Hold time (ms)', 'n', '100-600000: how long a grant opens it'],
  ['schedule', 'Held open during schedule', 't', 'a schedule\u2019s name or id from the user table; empty = none'],
  ['schedule_needs_badge', 'Only after a badge-in that day', 'b', '(a user with Relay Schedule Activation)']];

/* --- relays -------------------------------------------------------------------------------- */
function relayState(id, r) {
  const s = $('#relay-state-' + id);
  if (!s || !r) return;
  s.textContent = r.on ? 'ON, ' + (r.remaining_ms / 1000).toFixed(1) + ' s left' : 'off';
  s.className = r.on ? 'state on' : 'state';
  $('#relay-pulses-' + id).textContent = 'Opened ' + r.pulses + (r.pulses === 1 ? ' time' : ' times') + ' since start';
}

async function viewRelays(arg, gen) {
  const cfg = await api('GET', '/api/v1/config');
  const st = await api('GET', '/api/v1/relays');
  const ids = Object.keys(st).sort((a, b) => a - b);
  $('#relay-list').replaceChildren(...ids.map(id => {
    const open = h('form', {class: 'inline', method: 'post', novalidate: true, 'data-relay': id},
      h('label', {}, 'Open for seconds (0 = hold time)',
        h('input', {name: 'seconds', 'data-field': 'seconds', inputmode: 'decimal', value: '0'})),
      h('button', {}, 'Open now'),
      h('p', {class: 'err form-err'}));
    onSubmit(open, async f => {
      const s = f.seconds.value.trim();
      const secs = s === '' ? 0 : Number(s);
      if (!isFinite(secs)) throw new ApiError(0, 'must be a number of seconds', 'seconds');
      await api('POST', '/api/v1/relays/' + id + '/open', {seconds: secs});
      banner('Relay ' + id + ' opened.');
      relayState(id, (await api('GET', '/api/v1/relays'))[id]);
    });
    const hold = h('form', {method: 'post', novalidate: true, 'data-relay': id},
      h('div', {class: 'grid'}, RELAY_FIELDS.map(f => field('relays.' + id, f, cfg))),
      h('p', {class: 'err form-err'}), h('button', {}, 'Save'));
    onSubmit(hold, async f => {
      const doc = await api('PATCH', '/api/v1/config', collect(f));
      for (const k of ['hold_ms', 'schedule']) $('[data-field="relays.' + id + '.' + k + '"]', f).value = doc.relays[id][k];
      banner('Relay ' + id + ' settings saved.');
    });
    return h('div', {class: 'box', id: 'relay-' + id},
      h('h2', {}, 'Relay ' + id + ' ', h('span', {class: 'state', id: 'relay-state-' + id})),
      h('p', {class: 'note', id: 'relay-pulses-' + id}), open, hold);
  }));
  ids.forEach(id => relayState(id, st[id]));
  poll(async () => {
    const now = await api('GET', '/api/v1/relays');
    for (const id in now) relayState(id, now[id]);
  }, 1000, gen);
}

/* --- inputs, door alarms, web relays ------------------------------------------------------ */
const INPUT_FIELDS = [
  ['trigger', 'Active when the level is', [['low', 'low'], ['high', 'high']]],
  ['debounce_ms', 'Debounce (ms)', 'n', '0-2000'],
  ['relay', 'Opens relay', 'relay0'],
  ['http_url', 'HTTP action URL', 't', 'empty = none'],
  ['action_delay_s', 'Action delay (s)', 'n', '0-3600'],
  ['delay_mode', 'After the delay', [['unconditional', 'always run the actions'], ['still_triggered', 'only if still triggered']]],
];
const DOOR_FIELDS = [
  ['door_relay', 'Door of relay', 'relay'],
  ['door_opened_timeout_s', 'Held open longer than (s)', 'n', '1-86400'],
  ['alarm_door_opened', 'Held-open alarm: the door stays open longer than that', 'b'],
  ['break_in', 'Break-in alarm: the door opens while nobody was let in (latched until cleared)', 'b'],
];
async function viewInputs() {
  const cfg = await api('GET', '/api/v1/config');
  fillInputs(cfg);
  fillWeb(cfg);
}

function fillInputs(cfg) {
  clearErrors($('#inputs-form'));
  $('#input-list').replaceChildren(...Object.keys(cfg.inputs).map(name => {
    const c = cfg.inputs[name], p = 'inputs.' + name, door = 'break_in' in c;
    const f = d => {
      if (d[2] !== 'relay0') return field(p, d, cfg);
      return field(p, [d[0], d[1], [['0', 'none']].concat(Object.keys(cfg.relays).map(id => [id, 'Relay ' + id]))], cfg);
    };
    return h('fieldset', {'data-input': name, 'data-field': p},
      h('legend', {}, name + (door ? ' (door sensor)' : '')),
      field(p, ['enabled', 'Enabled', 'b'], cfg),
      h('div', {class: 'grid'}, INPUT_FIELDS.map(f)),
      door ? h('div', {class: 'grid'}, DOOR_FIELDS.map(f)) : null);
  }));
}

onSubmit($('#inputs-form'), async f => {
  fillInputs(await api('PATCH', '/api/v1/config', collect(f)));
  banner('Inputs saved.');
});

/* an id -> value map of the config (web relays, floors) edited as rows; a row taken away is
   sent as null, which removes it */
function mapRows(sec, id, valName, valHint, get, put, title) {
  let ids = [];
  const form = $('#' + id + '-form'), rows = $('#' + id + '-rows');
  const row = (key, v) => {
    const r = h('div', {class: 'row'},
      h('input', {name: 'id', 'aria-label': 'Number', class: 'short', inputmode: 'numeric', value: key, placeholder: '1'}),
      h('input', {name: valName, 'aria-label': valHint[0], value: v, placeholder: valHint[1], spellcheck: 'false'}),
      h('button', {type: 'button', class: 'secondary', onclick: () => r.remove()}, 'Remove'));
    rows.append(r);
  };
  $('#' + id + '-add').addEventListener('click', () => row('', ''));
  const fill = cfg => {
    clearErrors(form);
    rows.replaceChildren();
    const m = cfg[sec] || {};
    ids = Object.keys(m);
    ids.forEach(key => row(key, get(m[key])));
  };
  onSubmit(form, async () => {
    const doc = {};
    $$('.row', rows).forEach(r => {
      const key = $('[name=id]', r).value.trim(), v = $('[name=' + valName + ']', r);
      // the names the API's errors use: a web relay's id and its url; a floor's (number or relay) on the relay
      if (valName === 'url') $('[name=id]', r).dataset.field = sec + '.' + key;
      v.dataset.field = sec + '.' + key + (valName === 'url' ? '.url' : '');
      if (key || v.value.trim()) doc[key] = put(v.value.trim());
    });
    ids.forEach(key => { if (!(key in doc)) doc[key] = null; });
    fill(await api('PATCH', '/api/v1/config', {[sec]: doc}));
    banner(title + ' saved.');
  });
  return fill;
}
const fillWeb = mapRows('web_relays', 'web', 'url', ['URL', 'http://10.0.0.9/relay/0?turn=on'],
  w => w.url, url => ({url}), 'Web relays');
const fillFloors = mapRows('floors', 'floor', 'relay', ['Relay', '9'], r => String(r),
  r => (/^\d+$/.test(r) ? +r : r), 'Floors');

/* --- schedules and holidays ------------------------------------------------------------------
   The device keeps the whole set (GET/PUT /api/v1/schedules): adding, editing or deleting one
   sends the set with that change. The device's errors name fields by the set's index
   ("schedules[1].weekly[0].from"): the form's elements carry those names for the schedule
   being edited, so an error lands next to its field. */
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_LABELS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
let schedSet = [], schedEditing = null;  // the set as the device sent it; the schedule being edited (null: adding)

// "mon-fri", "fri-mon", "mon,wed" -> [true, ...] per day (Monday first)
function daysOf(text) {
  const on = DAYS.map(() => false);
  for (const part of String(text || '').toLowerCase().split(',')) {
    const ends = part.split('-').map(x => DAYS.indexOf(x.trim()));
    if (ends[0] < 0 || ends[ends.length - 1] < 0) continue;
    for (let i = ends[0]; ; i = (i + 1) % 7) {
      on[i] = true;
      if (i === ends[ends.length - 1]) break;
    }
  }
  return on;
}

function schedSummary(s) {
  const parts = (s.weekly || []).map(w => w.days + ' ' + w.from + '\u2013' + w.to);
  const out = [parts.length ? parts.join('; ') : 'all day, every day'];
  if ((s.dates || []).length) out.push('only ' + s.dates.map(d => d.from + ' to ' + d.to).join(', '));
  const n = (s.holidays || []).length;
  if (n) out.push(n + (n === 1 ? ' holiday' : ' holidays') + ': ' + s.holidays.join(', '));
  return out;
}

function showSchedules() {
  $('#schedule-list').replaceChildren(...(schedSet.length ? schedSet.map(s => h('div', {class: 'box', 'data-schedule': s.id},
    h('h2', {}, s.name + ' ', h('span', {class: 'hint'}, '(number ' + s.id + ')')),
    schedSummary(s).map(t => h('p', {class: 'note'}, t)),
    h('p', {class: 'err'}),
    h('div', {class: 'bar'},
      h('a', {class: 'button secondary', href: '#schedules/' + s.id}, 'Edit'),
      h('button', {type: 'button', class: 'danger', onclick: ev => deleteSchedule(s, ev.target)}, 'Delete')))) :
    [h('p', {class: 'note'}, 'No schedules of your own yet: every user has Always or Never.')]));
}

async function viewSchedules(arg) {
  const f = $('#schedule-form');
  schedSet = (await api('GET', '/api/v1/schedules')).schedules;
  showSchedules();
  schedEditing = arg && arg !== 'new' ? schedSet.find(s => String(s.id) === arg) || null : null;
  f.hidden = !arg;
  $('#schedule-add').hidden = !!arg;
  if (!arg) return;
  clearErrors(f);
  const s = schedEditing || {id: nextScheduleId(), name: '', weekly: [{days: 'mon-fri', from: '08:00', to: '18:00'}], dates: [], holidays: []};
  $('#schedule-title').textContent = schedEditing ? 'Schedule \u201c' + s.name + '\u201d' : 'Add schedule';
  f.id.value = s.id;
  f.name.value = s.name;
  $('#weekly-rows').replaceChildren();
  $('#date-rows').replaceChildren();
  $('#holiday-rows').replaceChildren();
  s.weekly.forEach(weeklyRow);
  s.dates.forEach(dateRow);
  s.holidays.forEach(holidayRow);
  nameSchedFields();
  f.name.focus();
}

function nextScheduleId() {
  for (let i = 2; i <= 255; i++) if (!schedSet.some(s => s.id === i)) return i;
  return '';
}

// the index the edited schedule has in the set sent, and its fields' names ("schedules.1.weekly.0.from")
function schedIndex() {
  const i = schedEditing ? schedSet.indexOf(schedEditing) : -1;
  return i >= 0 ? i : schedSet.length;
}

function nameSchedFields() {
  const p = 'schedules.' + schedIndex(), f = $('#schedule-form');
  f.id.dataset.field = p + '.id';
  f.name.dataset.field = p + '.name';
  $$('#weekly-rows > .row').forEach((r, j) => {
    r.dataset.field = p + '.weekly.' + j;
    $('fieldset', r).dataset.field = p + '.weekly.' + j + '.days';
    $('[name=from]', r).dataset.field = p + '.weekly.' + j + '.from';
    $('[name=to]', r).dataset.field = p + '.weekly.' + j + '.to';
  });
  $$('#date-rows > .row').forEach((r, j) => {
    r.dataset.field = p + '.dates.' + j;
    $('[name=from]', r).dataset.field = p + '.dates.' + j + '.from';
    $('[name=to]', r).dataset.field = p + '.dates.' + j + '.to';
  });
  $$('#holiday-rows > .row').forEach((r, j) => { $('input', r).dataset.field = p + '.holidays.' + j; });
  $('#weekly-rows').parentNode.dataset.field = p + '.weekly';
  $('#date-rows').parentNode.dataset.field = p + '.dates';
  $('#holiday-rows').parentNode.dataset.field = p + '.holidays';
}

function removeButton(row) {
  return h('button', {type: 'button', class: 'secondary', onclick: () => { row.remove(); nameSchedFields(); }}, 'Remove');
}

function weeklyRow(w) {
  const on = daysOf(w.days), row = h('div', {class: 'row week'});
  row.append(
    h('fieldset', {class: 'days'}, h('legend', {}, 'Days'),
      DAYS.map((d, i) => h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'day', value: d, checked: on[i]}), DAY_LABELS[i]))),
    h('label', {}, 'From', h('input', {name: 'from', value: w.from || '', placeholder: '08:00', maxlength: 5, autocomplete: 'off'})),
    h('label', {}, 'To', h('input', {name: 'to', value: w.to || '', placeholder: '18:00', maxlength: 5, autocomplete: 'off'})),
    removeButton(row));
  $('#weekly-rows').append(row);
}

function dateRow(d) {
  const row = h('div', {class: 'row'});
  row.append(h('label', {}, 'From', h('input', {name: 'from', type: 'date', value: d.from || ''})),
    h('label', {}, 'To', h('input', {name: 'to', type: 'date', value: d.to || ''})), removeButton(row));
  $('#date-rows').append(row);
}

function holidayRow(day) {
  const row = h('div', {class: 'row'});
  row.append(h('label', {}, 'Date', h('input', {name: 'holiday', type: 'date', value: day || ''})), removeButton(row));
  $('#holiday-rows').append(row);
}

$('#weekly-add').addEventListener('click', () => { weeklyRow({days: '', from: '', to: ''}); nameSchedFields(); });
$('#date-add').addEventListener('click', () => { dateRow({}); nameSchedFields(); });
$('#holiday-add').addEventListener('click', () => { holidayRow(''); nameSchedFields(); });

/* the form as a schedule document; what the page can't read goes as typed, for the device to name */
function formSchedule(f) {
  const id = f.id.value.trim();
  return {
    id: /^\d+$/.test(id) ? +id : id,
    name: f.name.value.trim(),
    weekly: $$('#weekly-rows > .row').map(r => ({
      days: $$('[name=day]', r).filter(c => c.checked).map(c => c.value).join(','),
      from: $('[name=from]', r).value.trim(), to: $('[name=to]', r).value.trim()})),
    dates: $$('#date-rows > .row').map(r => ({from: $('[name=from]', r).value, to: $('[name=to]', r).value})),
    holidays: $$('#holiday-rows [name=holiday]').map(i => i.value),
  };
}

onSubmit($('#schedule-form'), async f => {
  const s = formSchedule(f), set = schedSet.slice();
  set[schedIndex()] = s;
  nameSchedFields();
  schedSet = (await api('PUT', '/api/v1/schedules', {schedules: set})).schedules;
  banner('Schedule \u201c' + s.name + '\u201d saved.');
  go('#schedules');
});

async function deleteSchedule(s, btn) {
  const box = btn.closest('.box'), err = $('.err', box);
  if (!confirm('Delete schedule \u201c' + s.name + '\u201d?')) return;
  err.textContent = '';
  btn.disabled = true;
  try {
    schedSet = (await api('PUT', '/api/v1/schedules', {schedules: schedSet.filter(x => x !== s)})).schedules;
    banner('Schedule \u201c' + s.name + '\u201d deleted.');
    showSchedules();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    err.textContent = e.message;  // e.g. still used by a user: the device names one
    btn.disabled = false;
  }
}

/* --- card format ----------------------------------------------------------------------------- */
$('#card-form').format.replaceChildren(...FORMATS.map(([v, text]) => h('option', {value: v}, text)));

async function viewCard() {
  const cfg = await api('GET', '/api/v1/config');
  const f = $('#card-form');
  f.enabled.checked = cfg.card.enabled;
  f.format.value = cfg.card.format;
  const m = cfg.card.mifare;
  f.mifare_enabled.checked = m.enabled;
  f.mifare_sector.value = m.sector;
  f.mifare_block.value = m.block;
  f.mifare_key_type.value = m.key_type;
  f.mifare_uid_fallback.checked = m.uid_fallback;
  const d = cfg.card.desfire;
  f.desfire_enabled.checked = d.enabled;
  f.desfire_aid.value = d.aid;
  f.desfire_file.value = d.file;
  f.desfire_crypto.value = d.crypto;
  f.desfire_key_index.value = d.key_index;
  f.desfire_comm.value = d.comm;
  f.desfire_offset.value = d.offset;
  f.desfire_length.value = d.length;
  f.desfire_diversify.checked = d.diversify;
  f.desfire_uid_fallback.checked = d.uid_fallback;
  const p = cfg.card.plus;
  f.plus_enabled.checked = p.enabled;
  f.plus_sector.value = p.sector;
  f.plus_block.value = p.block;
  f.plus_key_type.value = p.key_type;
  f.plus_keys.value = String(p.keys);
  f.plus_uid_fallback.checked = p.uid_fallback;
  const n = cfg.card.nfc;
  f.nfc_enabled.checked = n.enabled;
  f.nfc_aid.value = n.aid;
  f.nfc_uid_fallback.checked = n.uid_fallback;
  f.felica_enabled.checked = cfg.card.felica.enabled;
  f.felica_kbps.value = String(cfg.card.felica.kbps);
  await showRestart();
}

// a stored card format the door does not use until it restarts (status restart_required)
async function showRestart() {
  $('#card-restart').hidden = !(await api('GET', '/api/v1/status')).restart_required;
}

onSubmit($('#card-form'), async f => {
  const mifare = {enabled: f.mifare_enabled.checked, sector: Number(f.mifare_sector.value),
    block: Number(f.mifare_block.value), key_type: f.mifare_key_type.value, uid_fallback: f.mifare_uid_fallback.checked};
  const desfire = {enabled: f.desfire_enabled.checked, aid: f.desfire_aid.value.trim(), file: Number(f.desfire_file.value),
    crypto: f.desfire_crypto.value, key_index: Number(f.desfire_key_index.value), comm: f.desfire_comm.value,
    offset: Number(f.desfire_offset.value), length: Number(f.desfire_length.value),
    diversify: f.desfire_diversify.checked, uid_fallback: f.desfire_uid_fallback.checked};
  const plus = {enabled: f.plus_enabled.checked, sector: Number(f.plus_sector.value), block: Number(f.plus_block.value),
    key_type: f.plus_key_type.value, keys: Number(f.plus_keys.value), uid_fallback: f.plus_uid_fallback.checked};
  const nfc = {enabled: f.nfc_enabled.checked, aid: f.nfc_aid.value.trim(), uid_fallback: f.nfc_uid_fallback.checked};
  const cfg = await api('PATCH', '/api/v1/config', {card: {enabled: f.enabled.checked, format: f.format.value, mifare,
    desfire, plus, nfc, felica: {enabled: f.felica_enabled.checked, kbps: Number(f.felica_kbps.value)}}});
  f.format.value = cfg.card.format;
  await showRestart();
  banner('Card settings saved.');
});

/* --- BLE ----------------------------------------------------------------------------------------- */
async function viewBle() {
  const cfg = await api('GET', '/api/v1/config');
  const E = $('#ble-form').elements;
  clearErrors($('#ble-form'));
  for (const k of ['enabled', 'hands_free', 'movement_detection']) E[k].checked = cfg.ble[k];
  for (const k of ['trigger_m', 'bkey_range_m', 'rssi_1m', 'path_loss_x10']) E[k].value = cfg.ble[k];
  E.interval_same_s.value = cfg.access.interval_same_s;
  E.interval_other_s.value = cfg.access.interval_other_s;
  E.name.value = cfg.device.name;
  E.id.value = cfg.device.id;
}

onSubmit($('#ble-form'), async f => {
  const E = f.elements;
  const num = (k, field) => {
    if (!/^-?\d+$/.test(E[k].value.trim())) throw new ApiError(0, 'must be a whole number', field);
    return +E[k].value.trim();
  };
  await api('PATCH', '/api/v1/config', {
    ble: {enabled: E.enabled.checked, hands_free: E.hands_free.checked, trigger_m: +E.trigger_m.value,
          bkey_range_m: E.bkey_range_m.value, movement_detection: E.movement_detection.checked,
          rssi_1m: num('rssi_1m', 'ble.rssi_1m'), path_loss_x10: num('path_loss_x10', 'ble.path_loss_x10')},
    access: {interval_same_s: num('interval_same_s', 'access.interval_same_s'),
             interval_other_s: num('interval_other_s', 'access.interval_other_s')},
    device: {name: E.name.value, id: E.id.value},
  });
  banner('BLE settings saved.');
});

onSubmit($('#phone-form'), async f => {
  const v = f.elements.valid_s.value.trim();
  if (!/^\d+$/.test(v)) throw new ApiError(0, 'must be a number of seconds (30-86400)', 'valid_s');
  const r = await api('POST', '/api/v1/users/' + editing.id + '/ble-code', {valid_s: +v});
  const p = $('#phone-code');
  p.replaceChildren('Pairing code for user ' + r.user + ': ', h('strong', {}, r.code),
    ' (valid ' + duration(r.valid_s) + ', works once)');
  p.hidden = false;
});

$('#phone-unpair').addEventListener('click', async () => {
  const f = $('#phone-form');
  if (!editing || !confirm('Unpair the phone of user ' + editing.id + '?')) return;
  clearErrors(f);
  try {
    await api('DELETE', '/api/v1/users/' + editing.id + '/phone');
    banner('Phone of user ' + editing.id + ' unpaired.');
  } catch (e) {
    if (e instanceof ApiError) showError(f, e); else throw e;
  }
});

/* --- events ----------------------------------------------------------------------------------- */
const SHOWN = 50;
let evNext = 0, evOldest = 0;

function eventRow(e) {
  return h('tr', {'data-seq': e.seq, class: e.result},
    h('td', {}, e.seq), h('td', {}, when(e.time)), h('td', {}, e.kind), h('td', {}, e.result),
    h('td', {}, e.reason), h('td', {}, e.code || ''),
    h('td', {}, e.user ? h('a', {href: '#users/' + e.user}, e.user) : ''),
    h('td', {}, e.relays ? e.relays.join(', ') : (e.door ? 'door ' + e.door : '')));
}

async function viewEvents(arg, gen) {
  const tbody = $('#event-rows');
  const top = await api('GET', '/api/v1/events?since=0&limit=1');
  evNext = Math.max(0, top.last_seq - SHOWN);
  evOldest = evNext + 1;
  tbody.replaceChildren();
  const more = async () => {
    const doc = await api('GET', '/api/v1/events?since=' + evNext + '&limit=200');
    if (doc.last_seq < evNext) {  // the log was reset: start again
      tbody.replaceChildren();
      evNext = 0;
      evOldest = 1;
      return more();
    }
    for (const e of doc.events) {
      tbody.prepend(eventRow(e));
      evNext = e.seq;
    }
    while (tbody.children.length > 500) tbody.lastChild.remove();
    $('#events-older').disabled = evOldest <= 1;
  };
  await more();
  poll(more, 2000, gen);
}

$('#events-older').addEventListener('click', async () => {
  if (evOldest <= 1) return;
  const since = Math.max(0, evOldest - 1 - SHOWN);
  const doc = await api('GET', '/api/v1/events?since=' + since + '&limit=' + (evOldest - 1 - since));
  const tbody = $('#event-rows');
  for (const e of doc.events.filter(e => e.seq < evOldest).reverse()) tbody.append(eventRow(e));
  evOldest = since + 1;
  $('#events-older').disabled = evOldest <= 1;
});

/* --- settings ------------------------------------------------------------------------------- */
async function viewSettings() {
  $('#wiegand-link').hidden = !('wiegand_out' in await api('GET', '/api/v1/config'));
}

const SOURCES = [['local', 'local: the door\u2019s own users'], ['remote', 'remote: the server decides'],
  ['remote_fallback', 'remote, local when the server can\u2019t be reached']];
const METHOD_DEFAULTS = {general: ['remote', 'local', 'local', 'local'], customize: ['remote', 'remote', 'remote', 'local'],
  off: ['local', 'local', 'local', 'local']};
const viewVerify = sectionView('verify', 'verify', [
  ['mode', 'Mode', [['off', 'Off: the door decides'], ['general', 'General: QR codes go to the server'],
    ['customize', 'Customize: the methods chosen below go to the server']]],
  ['url', 'URL template', 't', 'http:// or https://, a host, {Variables} in the path and query (listed below)'],
  ['device_id', 'Device ID sent as {DeviceID}', 't', 'empty = the door\u2019s ID'],
  ['auth_mode', 'Authentication (Customize)', [['any', 'Any method: each credential alone'],
    ['card_pin', 'Card, then PIN (two-factor)'], ['pin_card', 'PIN, then card (two-factor)']]],
  ['methods.qr', 'QR codes', SOURCES], ['methods.card', 'Cards', SOURCES], ['methods.pin', 'PINs', SOURCES],
  ['methods.ble', 'BLE', SOURCES],
  ['relays', 'A server grant opens', 'relays'],
  ['timeout_ms', 'Timeout (ms)', 'n', '500-10000, the whole request'],
  ['step_timeout_ms', 'Two-factor: time for the second step (ms)', 'n', '2000-60000'],
  ['prompt', 'Prompt shown', [['default', 'the door\u2019s own'], ['return_value', 'a field of the server\u2019s answer']]],
  ['prompt_field', 'Answer field with the prompt', 't'],
  ['max_redirects', 'Redirects followed', 'n', '0-5'],
  ['ca_file', 'CA certificate file on the door (https)', 't', 'empty = the server is not authenticated'],
], 'Verification settings', (cfg, form) => {
  // a mode comes with its methods: show them, so that a changed mode saves as it can
  $('[data-field="verify.mode"]', form).addEventListener('change', ev => {
    METHOD_DEFAULTS[ev.target.value].forEach((v, i) => {
      $('[data-field="verify.methods.' + ['qr', 'card', 'pin', 'ble'][i] + '"]', form).value = v;
    });
  });
  verifyDevice = cfg.device.id;
});
let verifyDevice = '';

// as lib/verifynames.py quote(): UTF-8, all but A-Z a-z 0-9 - . _ ~ as %XX
const quote = v => encodeURIComponent(v).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const VARS = ['QRCode', 'Card', 'CardCode', 'Pin', 'PINCode', 'Face', 'FaceData', 'DeviceID', 'Token', 'Type', 'Time'];

/* the URL the door would send for one credential: docs/verify.md */
function expandUrl(tpl, mode, auth, kind, value, device) {
  if (!/^https?:\/\/[^/?#\s]+/.test(tpl)) throw new ApiError(0, 'the URL must start with http:// or https:// and a host', 'verify.url');
  const two = mode === 'customize' && auth !== 'any' && (kind === 'card' || kind === 'pin');
  const vals = {DeviceID: device, Time: String(Math.floor(Date.now() / 1000)), Token: value,
    Type: two ? (auth === 'card_pin' ? '1' : '2') : kind === 'fob' ? '3' : kind === 'phone' ? '4' : ''};
  if (kind === 'qr') vals.QRCode = value;
  if (kind === 'card') vals.Card = vals.CardCode = value;
  if (kind === 'pin') vals.Pin = vals.PINCode = value;
  const allowed = mode === 'general' ? ['QRCode', 'DeviceID', 'Time'] : VARS;
  return tpl.replace(/\{([^{}]*)\}/g, (m, name) => {
    if (allowed.indexOf(name) < 0) {
      const known = VARS.find(v => v.toLowerCase() === name.toLowerCase());
      throw new ApiError(0, 'unknown variable {' + name + '}' + (known && allowed.indexOf(known) >= 0 ? ', did you mean {' + known + '}?' :
        mode === 'general' && known ? ' in General mode' : ''), 'verify.url');
    }
    return quote(vals[name] || '');
  });
}

onSubmit($('#preview-form'), async f => {
  const vf = $('#verify-form'), v = k => $('[data-field="verify.' + k + '"]', vf).value;
  const out = $('#verify-preview');
  out.hidden = true;
  clearErrors(vf);
  let url;
  try {
    url = expandUrl(v('url').trim(), v('mode'), v('auth_mode'), f.kind.value, f.sample.value, v('device_id') || verifyDevice);
  } catch (e) {
    showError(vf, e);
    throw new ApiError(0, e.message + ' (see the URL field)');
  }
  const m = url.match(/^https?:\/\/([^/?#]+)(.*)$/);
  out.textContent = url + '\n\nGET ' + (m[2] || '/') + ' HTTP/1.1\nHost: ' + m[1] +
    '\nUser-Agent: doorctl\nAccept: application/json\nConnection: close';
  out.hidden = false;
});

async function viewTime(arg, gen) {
  await timeForm();
  const show = async () => {
    const c = (await api('GET', '/api/v1/status')).clock;
    const n = c.ntp;
    $('#time-clock').replaceChildren(h('dt', {}, 'Clock'), h('dd', {'data-key': 'clock'}, clockWords(c)),
      h('dt', {}, 'NTP'), h('dd', {'data-key': 'ntp'}, !n ? 'not running (it needs Wi-Fi and a server)' : (n.server || 'no server') + ': ' + n.syncs +
        (n.syncs === 1 ? ' sync, ' : ' syncs, ') + n.failures + (n.failures === 1 ? ' failure' : ' failures') +
        (n.last_error ? ' (last: ' + n.last_error + ')' : '')));
  };
  await show();
  poll(show, 5000, gen);
}
const timeForm = sectionView('time', 'time', [
  ['tz', 'Time zone (POSIX TZ rule)', 't', 'pick one or type a rule, e.g. CET-1CEST,M3.5.0,M10.5.0/3', 'tz-list'],
  ['ntp', 'NTP server', 't', 'empty = no NTP (the board\u2019s clock only)'],
  ['ntp_interval_s', 'Synchronise every (s)', 'n', '60-86400'],
], 'Time settings');

const networkForm = sectionView('network', 'network', [
  ['hostname', 'Host name', 't', '1-32 characters'],
], 'Network settings');

/* Wi-Fi: the network and its password (PUT /api/v1/network/wifi). The password is write-only:
   the device tells only whether one is set, and the field is emptied after each save. */
async function wifiForm() {
  const f = $('#wifi-form'), w = await api('GET', '/api/v1/network/wifi');
  clearErrors(f);
  f.ssid.value = w.ssid;
  f.password.value = '';
  f.open.checked = false;
  $('#wifi-now').textContent = !w.ssid ? 'No Wi-Fi network set.' :
    'Network \u201c' + w.ssid + '\u201d, password ' + (w.password_set ? 'set' : 'not set (an open network)') + '.';
}

onSubmit($('#wifi-form'), async f => {
  const body = {ssid: f.ssid.value.trim()};
  if (f.open.checked) {
    if (f.password.value) throw new ApiError(0, 'an open network has no password: leave it empty', 'password');
    body.password = '';
  } else if (f.password.value) {
    body.password = f.password.value;
  }
  f.password.value = '';
  await api('PUT', '/api/v1/network/wifi', body);
  banner('Wi-Fi saved: the door joins it at its next restart.');
  await wifiForm();
});
const httpsForm = sectionView('https', 'http', [
  ['tls', 'HTTPS', [['off', 'off: plain HTTP on port 80'], ['on', 'on: HTTPS on port 443']]],
  ['redirect_http', 'With HTTPS on, port 80 only redirects to it', 'b'],
], 'HTTPS settings');
const viewNetwork = async () => { await wifiForm(); await networkForm(); await httpsForm(); };

const accessForm = sectionView('access', 'access', [
  ['interval_same_s', 'Unlock interval, same user (s)', 'n', '0-3600, 0 = none: a user can\u2019t open again sooner'],
  ['interval_other_s', 'Unlock interval, different users (s)', 'n', '0-3600, 0 = none'],
  ['interval_kinds', 'The intervals apply to', [['all', 'every credential'], ['ble', 'BLE only']]],
  ['admin_bypass', 'Administrators skip custom schedules and unlock intervals (never Never)', 'b'],
], 'Access settings');
const viewAccess = async () => { await accessForm(); fillFloors(await api('GET', '/api/v1/config')); };

async function viewHttpOpen() {
  const cfg = await api('GET', '/api/v1/config'), f = $('#httpopen-form'), c = cfg.http;
  clearErrors(f);
  f.enabled.checked = c.open_relay_via_http;
  f.username.value = c.open_username;
  f.password.value = '';
  $('#httpopen-now').textContent = c.open_relay_via_http ? 'Enabled, for user name \u201c' + c.open_username + '\u201d.' : 'Disabled.';
}

onSubmit($('#httpopen-form'), async f => {
  const body = {enabled: f.enabled.checked, username: f.username.value.trim()};
  if (f.password.value) body.password = f.password.value;
  await api('POST', '/api/v1/http-open', body);
  banner('HTTP open route saved.');
  await viewHttpOpen();
});

const lprForm = sectionView('lpr', 'lpr', [
  ['enabled', 'Accept licence plates from cameras', 'b'],
  ['relay', 'Gate relay', 'relay'],
], 'LPR settings');

async function viewLpr() {
  await lprForm();
  const cfg = await api('GET', '/api/v1/config'), f = $('#camera-form');
  clearErrors(f);
  f.username.value = cfg.lpr.username;
  f.password.value = '';
  $('#lpr-now').textContent = cfg.lpr.username ? 'Now: \u201c' + cfg.lpr.username + '\u201d.' : 'Now: none.';
}

onSubmit($('#camera-form'), async f => {
  await api('POST', '/api/v1/lpr/camera', {username: f.username.value.trim(), password: f.password.value});
  banner('Camera account saved.');
  await viewLpr();
});

$('#camera-remove').addEventListener('click', async () => {
  const f = $('#camera-form');
  if (!confirm('Remove the camera account?')) return;
  clearErrors(f);
  try {
    await api('POST', '/api/v1/lpr/camera', {username: ''});
    banner('Camera account removed.');
    await viewLpr();
  } catch (e) {
    if (e instanceof ApiError) showError(f, e); else throw e;
  }
});

// the fields of whatever wiegand_out section the firmware has (docs/wiegand-out.md): known ones
// labelled and first, in this order
const WIEGAND = {enabled: ['Send cards on the Wiegand output', 'b'], format: ['Format', [['w26', 'Wiegand-26'], ['w34', 'Wiegand-34']]],
  send: ['Send', [['granted', 'granted cards only'], ['all', 'every card read']]],
  pulse_us: ['Pulse width (\u00b5s)', 'n', '20-200'], interval_us: ['Pulse interval (\u00b5s)', 'n', '200-20000, at least the pulse width + 100']};
const viewWiegand = sectionView('wiegand', 'wiegand_out', cfg => {
  const sec = cfg.wiegand_out || {}, known = Object.keys(WIEGAND);
  return known.filter(k => k in sec).concat(Object.keys(sec).filter(k => !WIEGAND[k])).map(k => {
    const v = sec[k];
    return [k].concat(WIEGAND[k] || [k, typeof v === 'boolean' ? 'b' : typeof v === 'number' ? 'n' : 't']);
  });
}, 'Wiegand output');

route();
