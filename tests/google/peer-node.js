#!/usr/bin/env node
// Google's official Node.js clients (@googleapis/admin, /drive, /calendar) against the
// stand-in Google.  Usage: NODE_EXTRA_CA_CERTS=DIR/ca.pem node peer-node.js DIR OUT.jsonl
// Gets a token with google-auth-library's OAuth2Client (refresh-token grant of
// DIR/authorized_user.json at the stand-in's /token), then makes the five watch calls of
// issue 10 and the four channels.stop calls, with rootUrl = the stand-in's base.  Writes
// each request the client made (method, path, query, JSON body, as the client built
// it: from the response's config) as one JSON line to OUT.  Prints TAP.
'use strict';
const fs = require('fs');
const path = require('path');
const {admin, auth} = require('@googleapis/admin');
const {drive} = require('@googleapis/drive');
const {calendar} = require('@googleapis/calendar');

const dir = process.argv[2];
const out = process.argv[3];
if (!dir || !out) {
  console.error('usage: peer-node.js DIR OUT.jsonl');
  process.exit(2);
}
const base = fs.readFileSync(path.join(dir, 'base'), 'utf8').trim();
const user = JSON.parse(fs.readFileSync(path.join(dir, 'authorized_user.json'), 'utf8'));
const hook = 'https://hooks.example.com/gpush';
let n = 0;
let failed = 0;
fs.writeFileSync(out, '');

function ok(cond, name, diag) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond) {
    failed++;
    if (diag) String(diag).split('\n').forEach(l => console.log('# ' + l));
  }
}

// One line per request, from the config gaxios sent (url has the query in it).
function log(config) {
  const u = new URL(config.url);
  const query = {};
  for (const [k, v] of u.searchParams) {
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  let body = config.data !== undefined ? config.data : config.body;
  if (typeof body === 'string') {
    try { body = JSON.parse(body); } catch (e) { /* keep the text */ }
  }
  fs.appendFileSync(out, JSON.stringify({
    method: (config.method || 'GET').toUpperCase(), host: u.host, path: u.pathname, query,
    body: body === undefined ? null : body}) + '\n');
}

async function call(name, fn) {
  try {
    const res = await fn();
    log(res.config);
    return res;
  } catch (e) {
    if (e.config) log(e.config);
    ok(false, name, e.response ? `${e.response.status} ${JSON.stringify(e.response.data)}` : e.stack);
    return null;
  }
}

const uid = () => 'peer-node-' + Math.random().toString(36).slice(2) + Date.now().toString(36);

async function main() {
  const oauth = new auth.OAuth2({
    clientId: user.client_id, clientSecret: user.client_secret,
    endpoints: {oauth2TokenUrl: base + '/token'}});
  oauth.setCredentials({refresh_token: user.refresh_token});
  let token;
  try {
    token = (await oauth.getAccessToken()).token;
  } catch (e) {
    token = null;
    ok(false, 'OAuth2Client refresh-token grant at the stand-in', e.stack);
  }
  if (token) ok(true, 'OAuth2Client refresh-token grant at the stand-in');
  const opts = {rootUrl: base + '/', auth: oauth};
  const dir1 = admin({version: 'directory_v1', ...opts});
  const rep = admin({version: 'reports_v1', ...opts});
  const drv = drive({version: 'v3', ...opts});
  const cal = calendar({version: 'v3', ...opts});
  const exp = String(Date.now() + 3600 * 1000);
  const watches = [
    ['directory users.watch', dir1, () => dir1.users.watch({
      domain: 'example.com', event: 'add',
      requestBody: {id: uid(), type: 'web_hook', address: hook, token: 'peer-node-token',
                    params: {ttl: '3600'}}})],
    ['reports activities.watch', rep, () => rep.activities.watch({
      userKey: 'all', applicationName: 'login',
      requestBody: {id: uid(), type: 'web_hook', address: hook, token: 'peer-node-token',
                    expiration: exp}})],
    ['drive changes.watch', drv, () => drv.changes.watch({
      pageToken: '1',
      requestBody: {id: uid(), type: 'web_hook', address: hook, token: 'peer-node-token',
                    expiration: exp}})],
    ['drive files.watch', drv, () => drv.files.watch({
      fileId: 'FILEID',
      requestBody: {id: uid(), type: 'web_hook', address: hook, token: 'peer-node-token',
                    expiration: exp}})],
    ['calendar events.watch', cal, () => cal.events.watch({
      calendarId: 'primary',
      requestBody: {id: uid(), type: 'web_hook', address: hook, token: 'peer-node-token',
                    params: {ttl: '604800'}}})],
  ];
  const made = [];
  for (const [name, client, fn] of watches) {
    const res = await call(name, fn);
    if (!res) continue;
    const d = res.data || {};
    ok(res.status === 200 && d.kind === 'api#channel' && d.resourceId && d.expiration,
       `${name}: 200 api#channel (expiration ${d.expiration})`, JSON.stringify(d));
    made.push([name, client, d]);
  }
  // One stop per API: the first channel of each.
  const seen = new Set();
  for (const [name, client, d] of made) {
    const api = name.split(' ')[0];
    if (seen.has(api)) continue;
    seen.add(api);
    const res = await call(`${api} channels.stop`, () => client.channels.stop({
      requestBody: {id: d.id, resourceId: d.resourceId}}));
    if (!res) continue;
    ok(res.status === 204 || res.status === 200,
       `${api} channels.stop: ${res.status} at ${new URL(res.config.url).pathname}`);
  }
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

main().catch(e => { console.log('not ok - ' + e.stack.split('\n')[0]); process.exit(1); });
