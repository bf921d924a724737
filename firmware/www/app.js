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
  const host = el.closest('label') || el.parentNode;
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
};

async function route() {
  const gen = ++pollGen;
  let [name, arg] = location.hash.slice(1).split('/');
  if (!sessionStorage.getItem(KEY)) name = 'login';
  else if (firstBoot) name = 'password';
  else if (name === 'users' && arg) name = 'user';
  else if (!VIEWS[name] || name === 'login') name = 'status';
  $$('main > section').forEach(s => { s.hidden = s.id !== 'v-' + name; });
  $$('#nav a').forEach(a => {
    if (a.getAttribute('href') === '#' + (name === 'user' ? 'users' : name)) a.setAttribute('aria-current', 'page');
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

function flat(obj, prefix, out) {
  for (const k in obj) {
    const v = obj[k], key = prefix + k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flat(v, key + '.', out);
    else out.push([key, v]);
  }
  return out;
}

async function viewStatus(arg, gen) {
  const show = async () => {
    const st = await api('GET', '/api/v1/status');
    $('#device').textContent = st.device_id || 'doorctl';
    const rows = flat(st, '', []).map(([k, v]) => {
      if (k === 'uptime_s') v = duration(v);
      else if (k === 'clock.now') v = when(v);
      else if (/^heap_/.test(k)) v = Math.round(v / 1024) + ' KB';
      else if (Array.isArray(v)) v = v.join(', ');
      return [h('dt', {}, k), h('dd', {'data-key': k}, String(v))];
    });
    $('#status-list').replaceChildren(...rows.flat());
  };
  await show();
  poll(show, 5000, gen);
}

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
    const hold = h('form', {class: 'inline', method: 'post', novalidate: true, 'data-relay': id},
      h('label', {}, 'Hold time (ms)',
        h('input', {name: 'hold_ms', 'data-field': 'relays.' + id + '.hold_ms', inputmode: 'numeric',
          value: String(cfg.relays[id] ? cfg.relays[id].hold_ms : '')})),
      h('button', {}, 'Save'),
      h('p', {class: 'err form-err'}));
    onSubmit(hold, async f => {
      const v = f.hold_ms.value.trim();
      const ms = /^\d+$/.test(v) ? +v : v;
      const doc = await api('PATCH', '/api/v1/config', {relays: {[id]: {hold_ms: ms}}});
      f.hold_ms.value = doc.relays[id].hold_ms;
      banner('Relay ' + id + ' hold time saved.');
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

/* --- inputs ---------------------------------------------------------------------------------- */
async function viewInputs() {
  const cfg = await api('GET', '/api/v1/config');
  fillInputs(cfg);
}

function fillInputs(cfg) {
  const relayIds = Object.keys(cfg.relays);
  $('#input-list').replaceChildren(...Object.keys(cfg.inputs).map(name => {
    const c = cfg.inputs[name], p = 'inputs.' + name + '.';
    return h('fieldset', {'data-input': name, 'data-field': 'inputs.' + name},
      h('legend', {}, name),
      h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'enabled', 'data-field': p + 'enabled', checked: c.enabled}), 'Enabled'),
      h('div', {class: 'grid'},
        h('label', {}, 'Active when the level is',
          h('select', {name: 'trigger', 'data-field': p + 'trigger'},
            ['low', 'high'].map(v => h('option', {value: v, selected: c.trigger === v}, v)))),
        h('label', {}, 'Debounce (ms)',
          h('input', {name: 'debounce_ms', 'data-field': p + 'debounce_ms', inputmode: 'numeric', value: String(c.debounce_ms)})),
        h('label', {}, 'Opens relay',
          h('select', {name: 'relay', 'data-field': p + 'relay'},
            ['0'].concat(relayIds).map(v => h('option', {value: v, selected: +v === c.relay}, v === '0' ? 'none' : 'Relay ' + v))))));
  }));
}

onSubmit($('#inputs-form'), async f => {
  const inputs = {};
  $$('[data-input]', f).forEach(fs => {
    const v = $('[name=debounce_ms]', fs).value.trim();
    inputs[fs.dataset.input] = {
      enabled: $('[name=enabled]', fs).checked,
      trigger: $('[name=trigger]', fs).value,
      debounce_ms: /^\d+$/.test(v) ? +v : v,
      relay: +$('[name=relay]', fs).value,
    };
  });
  const cfg = await api('PATCH', '/api/v1/config', {inputs});
  fillInputs(cfg);
  banner('Inputs saved.');
});

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
  await showRestart();
}

// a stored card format the door does not use until it restarts (status restart_required)
async function showRestart() {
  $('#card-restart').hidden = !(await api('GET', '/api/v1/status')).restart_required;
}

onSubmit($('#card-form'), async f => {
  const mifare = {enabled: f.mifare_enabled.checked, sector: Number(f.mifare_sector.value),
    block: Number(f.mifare_block.value), key_type: f.mifare_key_type.value, uid_fallback: f.mifare_uid_fallback.checked};
  const cfg = await api('PATCH', '/api/v1/config', {card: {enabled: f.enabled.checked, format: f.format.value, mifare}});
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

route();
