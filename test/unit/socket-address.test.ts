import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shownAddress } from '../../src/socket-address.js';

test('addresses as PostgreSQL shows them: IPv4-mapped IPv6 without its prefix, the rest as given', () => {
  for (const [given, shown] of [
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:10.1.2.3', '::FFFF:10.1.2.3'],
    ['::ffff:', '::ffff:'],
    ['::ffff:abcd', '::ffff:abcd'],
    ['::1', '::1'],
    ['fe80::1', 'fe80::1'],
    ['192.168.0.7', '192.168.0.7'],
    [undefined, 'unix'],
  ] as const)
    assert.equal(shownAddress(given), shown, String(given));
});
