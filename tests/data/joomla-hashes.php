<?php
// Test vectors of the password hashes a Joomla site stores, made by PHP itself.
//
//   php tests/data/joomla-hashes.php > tests/data/joomla-hashes.json
//
// (PHP 8.2 from Debian's php-cli, with argon2.) Each vector: a hash made by PHP's own
// password_hash(), crypt(), md5() or hash() the way Joomla made that format, a password,
// and PHP's verdict: password_verify() for the crypt formats (what UserHelper::verifyPassword
// called), and for Joomla's salted digests the comparison it made. Read by
// tests/plugins/oauth2/test_joomla_passwords.py; phpass vectors come from libpass there.

function md5_joomla(string $password, string $salt): string
{
    // What Joomla 1.5 to 2.5 stored: md5(password . salt) . ':' . salt (a bare md5 without salt)
    return $salt === '' ? md5($password) : md5($password . $salt) . ':' . $salt;
}

function sha256_joomla(string $password, string $salt): string
{
    return '{SHA256}' . hash('sha256', $password . $salt) . ':' . $salt;
}

$vectors = [];

function add(array &$vectors, string $id, string $hash, string $password, bool $php): void
{
    $vectors[] = ['id' => $id, 'hash' => $hash, 'password' => $password, 'php' => $php];
}

function both(array &$vectors, string $id, string $hash, string $right, string $wrong): void
{
    add($vectors, $id, $hash, $right, password_verify($right, $hash));
    add($vectors, "$id-wrong", $hash, $wrong, password_verify($wrong, $hash));
}

// bcrypt, as password_hash() makes it ($2y$), and the other prefixes crypt() reads.
both($vectors, 'bcrypt-2y', password_hash('correct horse', PASSWORD_BCRYPT, ['cost' => 5]), 'correct horse', 'correct hors');
both($vectors, 'bcrypt-2y-unicode', password_hash('pässwörd✓', PASSWORD_BCRYPT, ['cost' => 4]), 'pässwörd✓', 'passwörd✓');
$long = str_repeat('0123456789', 8); // 80 bytes: bcrypt reads the first 72
$hash = password_hash($long, PASSWORD_BCRYPT, ['cost' => 4]);
add($vectors, 'bcrypt-2y-long', $hash, $long, password_verify($long, $hash));
add($vectors, 'bcrypt-2y-long-72', $hash, substr($long, 0, 72) . 'different tail', password_verify(substr($long, 0, 72) . 'different tail', $hash));
add($vectors, 'bcrypt-2y-long-71', $hash, substr($long, 0, 71), password_verify(substr($long, 0, 71), $hash));
$hash = password_hash('before', PASSWORD_BCRYPT, ['cost' => 4]);
add($vectors, 'bcrypt-2y-nul', $hash, "before\0after", password_verify("before\0after", $hash));
foreach (['2a', '2b', '2x'] as $variant) {
    $salt = '$' . $variant . '$04$' . 'abcdefghijklmnopqrstuu';
    both($vectors, "bcrypt-$variant", crypt('s3cret!', $salt), 's3cret!', 'S3cret!');
    $hash = crypt('ünïcødé', $salt);
    add($vectors, "bcrypt-$variant-unicode", $hash, 'ünïcødé', password_verify('ünïcødé', $hash));
}
add($vectors, 'bcrypt-bad-cost', '$2y$99$abcdefghijklmnopqrstuuB3wHtj1OMTX7vY0L8D7xy5g4rbA2q6Kq', 'x', password_verify('x', '$2y$99$abcdefghijklmnopqrstuuB3wHtj1OMTX7vY0L8D7xy5g4rbA2q6Kq'));
$hash = password_hash('trailing', PASSWORD_BCRYPT, ['cost' => 4]);
add($vectors, 'bcrypt-with-suffix', $hash . ':salt', 'trailing', password_verify('trailing', $hash . ':salt'));

// argon2, as password_hash() makes them (Joomla 4 offers both).
both($vectors, 'argon2i', password_hash('argon two i', PASSWORD_ARGON2I, ['memory_cost' => 1024, 'time_cost' => 2, 'threads' => 1]), 'argon two i', 'argon two');
both($vectors, 'argon2id', password_hash('argon two id', PASSWORD_ARGON2ID, ['memory_cost' => 1024, 'time_cost' => 2, 'threads' => 1]), 'argon two id', 'argon two');
both($vectors, 'argon2id-unicode', password_hash('日本語のパスワード', PASSWORD_ARGON2ID, ['memory_cost' => 1024, 'time_cost' => 1, 'threads' => 1]), '日本語のパスワード', '日本語');

// Joomla's salted digests: the hash as Joomla stored it, and the comparison it made.
foreach ([
    ['md5-salted', md5_joomla('joomla15', 'ABCDEFGHijklmnop0123456789abcdef'), 'joomla15', 'joomla16'],
    ['md5-bare', md5_joomla('plain old', ''), 'plain old', 'plain new'],
    ['md5-unicode', md5_joomla('grüße', 'xyZ'), 'grüße', 'grusse'],
    ['sha256-salted', sha256_joomla('sha pass', 'Qq0123456789abcd'), 'sha pass', 'sha pas'],
    ['sha256-unicode', sha256_joomla('ñandú', 'salt'), 'ñandú', 'nandu'],
] as [$id, $hash, $right, $wrong]) {
    add($vectors, $id, $hash, $right, true);
    add($vectors, "$id-wrong", $hash, $wrong, false);
}
// Edge cases of Joomla's comparison: an empty salt after ':' (the ':' is kept), a salt of
// "0" (falsy to PHP: md5(password . '0') . ':' never equals 'md5:0'), a third part.
add($vectors, 'md5-empty-salt', md5('colon') . ':', 'colon', true);
add($vectors, 'md5-zero-salt', md5('zero' . '0') . ':0', 'zero', false);
add($vectors, 'md5-three-parts', md5('abc') . ':b:c', 'a', false);
add($vectors, 'sha256-empty-salt', '{SHA256}' . hash('sha256', 'nosalt') . ':', 'nosalt', true);
add($vectors, 'sha256-no-colon', '{SHA256}' . hash('sha256', 'nosalt'), 'nosalt', false);

echo json_encode(['php' => PHP_VERSION, 'vectors' => $vectors], JSON_PRETTY_PRINT | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
