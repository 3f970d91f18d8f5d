<?php
/*
 * Variant (g): the PHP script people put on shared hosting instead, in the
 * style of the seed documents' webhook examples, run by php-fpm (8 static
 * children, opcache on) behind the same lighttpd.
 *
 *   - the registry, channels.jsonl, read and parsed on every request (PHP
 *     keeps nothing between requests);
 *   - header checks: channel id, message number (plain decimal >= 1),
 *     resource state, id and URI present, 400 otherwise;
 *   - token compared with hash_equals (constant time), 401; unknown
 *     channel 404; expiry from the registry, 410;
 *   - the body parsed as JSON (400 when it is not);
 *   - one JSON line appended under LOCK_EX: file_put_contents(FILE_APPEND
 *     | LOCK_EX) without durability, or, with BENCH_PHP_SYNC=1, fopen +
 *     flock + fwrite + fflush + fdatasync (PHP >= 8.1) for each request.
 *
 * No dedup, no torn-tail repair, no rotation handling: what such a script
 * usually has.  The line has gpush's keys, in its order.
 *
 * BENCH_DATA names the data directory (fastcgi_param / env[] in the pool).
 */
$data = getenv('BENCH_DATA');
$sync = getenv('BENCH_PHP_SYNC') === '1';

function answer($status, $text)
{
    http_response_code($status);
    header('Content-Type: text/plain; charset=utf-8');
    header('Cache-Control: no-store');
    echo $text, "\n";
    exit;
}

if (($_SERVER['REQUEST_METHOD'] ?? '') !== 'POST') {
    header('Allow: POST');
    answer(405, 'method not allowed');
}
$h = function ($name) {
    $v = $_SERVER['HTTP_X_GOOG_' . $name] ?? null;
    return is_string($v) ? $v : null;
};
$id = $h('CHANNEL_ID');
$num = $h('MESSAGE_NUMBER');
$state = $h('RESOURCE_STATE');
$rid = $h('RESOURCE_ID');
$uri = $h('RESOURCE_URI');
if ($id === null || $id === '' || strlen($id) > 64 || $num === null ||
    !preg_match('/^[1-9][0-9]{0,18}$/', $num) || $state === null || $state === '' ||
    $rid === null || $rid === '' || $uri === null || $uri === '') {
    answer(400, 'bad notification headers');
}

/* The registry, one channel resource per line, read per request. */
$channel = null;
$lines = @file($data . '/channels.jsonl', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
if ($lines === false) {
    answer(503, 'registry unreadable');
}
$needle = json_encode($id, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
foreach ($lines as $line) {
    /* only the lines that can hold the id are decoded */
    if (strpos($line, $needle) === false) {
        continue;
    }
    $c = json_decode($line, true);
    if (is_array($c) && ($c['id'] ?? null) === $id) {
        $channel = $c;
        break;
    }
}
if ($channel === null) {
    answer(404, 'unknown channel');
}
if (isset($channel['token']) && $channel['token'] !== '' &&
    !hash_equals((string)$channel['token'], (string)($h('CHANNEL_TOKEN') ?? ''))) {
    answer(401, 'bad token');
}
$now = microtime(true);
if (isset($channel['expiration']) && (int)$channel['expiration'] <= (int)($now * 1000)) {
    answer(410, 'channel expired');
}

$rec = [
    'received_at' => gmdate('Y-m-d\TH:i:s', (int)$now) . sprintf('.%03dZ', (int)($now * 1000) % 1000),
    'channel_id' => $id,
    'message_number' => (int)$num,
    'resource_state' => $state,
    'resource_id' => $rid,
    'resource_uri' => $uri,
];
$exp = $h('CHANNEL_EXPIRATION');
if ($exp !== null && $exp !== '') {
    $t = strtotime($exp);
    if ($t === false) {
        answer(400, 'bad X-Goog-Channel-Expiration');
    }
    $rec['channel_expiration'] = $t * 1000;
}
$body = file_get_contents('php://input');
if ($body !== '') {
    $b = json_decode($body);
    if ($b === null && json_last_error() !== JSON_ERROR_NONE) {
        answer(400, 'body is not JSON');
    }
    $rec['body'] = $b;
}
$line = json_encode($rec, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n";
$log = $data . '/notifications.ndjson';
if (!$sync) {
    if (file_put_contents($log, $line, FILE_APPEND | LOCK_EX) !== strlen($line)) {
        answer(503, 'storage failed');
    }
    answer(200, 'ok');
}
$f = fopen($log, 'a');
if ($f === false || !flock($f, LOCK_EX)) {
    answer(503, 'storage failed');
}
$ok = fwrite($f, $line) === strlen($line) && fflush($f) && fdatasync($f);
flock($f, LOCK_UN);
fclose($f);
answer($ok ? 200 : 503, $ok ? 'ok' : 'storage failed');
