#!/usr/bin/env python3
"""The two roles of lib/roles.sql (issue 14): the handler's login role
(in gpush_handler) serves requests but cannot change channels nor update
or delete notifications; the tool's (in gpush_tool) manages channels.  A
FastCGI process under the handler's role sees the tool's changes on its
next request (cache checked against gpush.registry_version).  No
password is printed by the handler or the tool."""
import os, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from lib import pg, datadir, tap, TOOL  # noqa: E402
from lib.handler import Pool  # noqa: E402

t = tap.Tap()
why = pg.available()
if why:
    t.ok(True, 'roles', skip=why)
    sys.exit(t.done())
srv = pg.Server()
srv.init_gpush(roles=True)
srv.psql('CREATE ROLE web LOGIN IN ROLE gpush_handler; CREATE ROLE admin LOGIN IN ROLE gpush_tool')
web = srv.conninfo(user='web', dbname='gpush')
admin = srv.conninfo(user='admin', dbname='gpush')


def tool(ci, *args, input=None):
    return subprocess.run([TOOL, '--database', ci] + list(args), input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refused(sql):
    r = srv.psql(sql, user='web', dbname='gpush', check=False)
    return r.returncode != 0 and b'permission denied' in r.stderr


d = datadir.DataDir([], prefix='gpush-pgroles-')
pool = Pool(d, mode='fcgi', procs=1, env={'GPUSH_DIR': '', 'GPUSH_DATABASE': web})


def send(n, token='tok-a', ch='c1', mode='fcgi'):
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': b'0', b'HTTP_X_GOOG_CHANNEL_ID': ch.encode(),
         b'HTTP_X_GOOG_CHANNEL_TOKEN': token.encode(), b'HTTP_X_GOOG_RESOURCE_ID': b'r1',
         b'HTTP_X_GOOG_RESOURCE_URI': b'https://u/1',
         b'HTTP_X_GOOG_RESOURCE_STATE': b'sync' if n == 1 else b'update',
         b'HTTP_X_GOOG_MESSAGE_NUMBER': str(n).encode()}
    return pool.send(e, b'', mode=mode)


try:
    r = tool(admin, 'new', '--address', 'https://example.com/n', '--id', 'c1', '--token', 'tok-a')
    t.ok(r.returncode == 0, "the tool's role makes a channel (gpush new)")
    t.ok(send(1) == 200 and send(2, mode='cgi') == 200,
         "the handler's role serves requests (FastCGI, CGI)")
    t.ok(send(2) == 200, 'a duplicate under the handler role: 200')
    t.ok(refused("UPDATE gpush.channels SET token = 'x'"), "handler role: UPDATE channels refused")
    t.ok(refused("INSERT INTO gpush.channels (id, record, line) VALUES ('e', '{}', '{}')"),
         'handler role: INSERT channels refused')
    t.ok(refused('DELETE FROM gpush.channels'), 'handler role: DELETE channels refused')
    t.ok(refused('UPDATE gpush.notifications SET message_number = 99'),
         'handler role: UPDATE notifications refused')
    t.ok(refused('DELETE FROM gpush.notifications'), 'handler role: DELETE notifications refused')
    t.ok(refused('TRUNCATE gpush.notifications'), 'handler role: TRUNCATE notifications refused')
    t.ok(refused('UPDATE gpush.registry_version SET version = 0'),
         'handler role: registry_version refused')
    t.ok(refused('CREATE TABLE gpush.x (a int)'), 'handler role: no table made in gpush')
    r = tool(web, 'remove', 'c1')
    t.ok(r.returncode == 1 and 'permission' in r.stderr,
         'the tool under the handler role cannot remove a channel: %s' % r.stderr.strip())
    t.ok(refused('DELETE FROM gpush.notifications') and
         srv.psql('DELETE FROM gpush.notifications', user='admin', dbname='gpush',
                  check=False).returncode != 0, "neither role deletes notifications")
    # The cache of the FastCGI process follows the tool's changes.
    r = tool(admin, 'update', input='{"id":"c1","token":"tok-b"}')
    t.ok(r.returncode == 0, 'token changed by gpush update')
    t.ok(send(3, 'tok-a') == 401 and send(3, 'tok-b') == 200,
         'next request: the old token 401, the new one 200 (FastCGI cache)')
    r = tool(admin, 'new', '--address', 'https://example.com/n', '--id', 'c2', '--token', 'tok-c')
    t.ok(send(1, 'tok-c', 'c2') == 200, 'a new channel: served at once')
    r = tool(admin, 'remove', 'c1')
    t.ok(r.returncode == 0 and send(4, 'tok-b') == 404, 'a removed channel: 404 at once')
    r = tool(admin, 'new', '--address', 'https://example.com/n', '--id', 'c1', '--token', 'tok-d')
    t.ok(send(1, 'tok-d') == 200 and send(3, 'tok-d') == 200,
         'made again with the same id: its dedup starts afresh (generation)')
    n = srv.psql("SELECT count(*) FROM gpush.notifications WHERE channel_id = 'c1'",
                 dbname='gpush').strip()
    t.ok(n == '5', 'the old rows stay beside the new ones (%s rows)' % n)
    r = tool(admin, 'list')
    t.ok(r.returncode == 0 and r.stdout.count('\n') == 2 and 'accepted=2' in r.stdout,
         'list under the tool role: %r' % r.stdout)
    r = tool(admin, 'check')
    t.ok(r.returncode == 0, 'check: no problem')
    r = tool(admin, 'new', '--address', 'https://example.com/n', '--id', 'old',
             '--expiration', '1000')
    r2 = tool(admin, 'due', '--within', '1h')
    t.ok(r.returncode == 0 and r2.returncode == 0 and r2.stdout.startswith('old '),
         'due lists the expired channel: %r' % r2.stdout)
    r = tool(admin, 'show', 'old')
    t.ok(r.returncode == 0 and '"id": "old"' in r.stdout and '"token": "(set)"' in r.stdout,
         'show prints it, token masked')
    r = tool(admin, 'expire')
    r2 = tool(admin, 'show', 'old')
    t.ok(r.returncode == 0 and 'removed old' in r.stdout and r2.returncode == 1,
         'expire removes it: %r' % r.stdout)
    r = tool(admin, 'rotate')
    t.ok(r.returncode == 1 and 'not for a database store' in r.stderr, 'rotate refused, said why')
    # GPUSH_SYNC per request, as for the data directory: the session's
    # synchronous_commit follows it (seen in the server's statement log).
    # log_statement for the handler's role, from its next connection on
    # (a reload would race with the running backend): its backend is
    # ended, and the FastCGI process reconnects on the next request.
    srv.psql("ALTER ROLE web SET log_statement = 'all'")
    srv.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE usename = 'web'")
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': b'0', b'HTTP_X_GOOG_CHANNEL_ID': b'c2',
         b'HTTP_X_GOOG_CHANNEL_TOKEN': b'tok-c', b'HTTP_X_GOOG_RESOURCE_ID': b'r1',
         b'HTTP_X_GOOG_RESOURCE_URI': b'https://u/1', b'HTTP_X_GOOG_RESOURCE_STATE': b'update'}
    sts = [pool.send({**e, b'HTTP_X_GOOG_MESSAGE_NUMBER': str(n).encode(), b'GPUSH_SYNC': s},
                     b'') for n, s in ((10, b'0'), (11, b'0'), (12, b'1'))]
    log = open(os.path.join(srv.dir, "server.log"), errors="replace").read()
    sets = [l.split('SET synchronous_commit = ')[1].strip() for l in log.split('\n')
            if 'SET synchronous_commit = ' in l]
    t.ok(sts == [200, 200, 200] and sets[-2:] == ['off', 'on'] and
         log.count('SET synchronous_commit = off') == 1,
         'GPUSH_SYNC=0 per request: synchronous_commit off, then on again (%s)' % sets)
    # The cache: three requests of one channel on a new connection read
    # the registry's version three times and the channel once.
    t.ok(log.count('execute gpush_version') == 3 and log.count('execute gpush_channel') == 1,
         'FastCGI cache: the version read per request, the channel once (%d, %d)'
         % (log.count('execute gpush_version'), log.count('execute gpush_channel')))
    # No password in any message.
    secret = 'S3cr3tPassw0rd'
    bad = srv.conninfo(user='web', dbname='nosuchdb', password=secret)
    r = tool(bad, 'list')
    t.ok(r.returncode == 1 and secret not in r.stderr + r.stdout and 'nosuchdb' in r.stderr,
         'tool: connection failure named without the password')
    p = subprocess.run([pool.handler], env={'PATH': '/usr/bin:/bin', 'GPUSH_DATABASE': bad,
                                            'REQUEST_METHOD': 'POST', 'CONTENT_LENGTH': '0'},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t.ok('503' in p.stdout and secret not in p.stderr + p.stdout and 'nosuchdb' in p.stderr,
         'handler: 503, the database named without the password')
    uri = 'postgresql://web:%s@127.0.0.1:%d/nosuchdb' % (secret, srv.port)
    p = subprocess.run([pool.handler], env={'PATH': '/usr/bin:/bin', 'GPUSH_DATABASE': uri,
                                            'REQUEST_METHOD': 'POST', 'CONTENT_LENGTH': '0'},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t.ok(secret not in p.stderr + p.stdout, 'a URI with a password: not printed either')
finally:
    pool.stop()
    d.cleanup()
    srv.stop()
sys.exit(t.done())
