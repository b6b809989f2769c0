// Prefix text on its way to ip/ifconfig/netsh: engine/os/address.ts reads and prints it with the
// shared parser in engine/routing/cidr.ts and adds its own refusals (OsValueError).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, networkOf, OsValueError, parseCidrText } from '../../engine/os/address.js';

test('prefix text reads into bytes and prints back as wg and inet_ntop print it', () => {
  const v4 = parseCidrText('10.0.0.2/24');
  assert.deepEqual({ family: v4.family, address: [...v4.address], bits: v4.bits }, { family: 4, address: [10, 0, 0, 2], bits: 24 });
  assert.equal(formatCidr(v4), '10.0.0.2/24', 'host bits are kept');
  assert.equal(formatCidr(networkOf(v4)), '10.0.0.0/24');
  assert.equal(formatCidr(parseCidrText('FD00:0:0::2')), 'fd00::2/128', 'a bare address is a host prefix');
  assert.equal(formatCidr(parseCidrText('0:0:0:0:0:ffff:c000:201/128')), '::ffff:192.0.2.1/128');
  assert.equal(formatCidr(parseCidrText('1:0:0:2:0:0:0:3/64')), '1:0:0:2::3/64');
  assert.equal(formatCidr(networkOf(parseCidrText('fd00:1:2:3:4:5:6:7/64'))), 'fd00:1:2:3::/64');
});

test('anything but an address with a prefix length is refused before it reaches a command', () => {
  for (const [text, message] of [
    ['fe80::1%eth0/64', /not an IP address/],
    ['010.0.0.1/8', /not an IP address/],
    ['10.0.0.1 /8', /not an IP address/],
    ['-10.0.0.1', /not an IP address/],
    ['10.0.0.0/33', /bad prefix length/],
    ['fd00::/129', /bad prefix length/],
    ['10.0.0.0/', /bad prefix length/],
    ['10.0.0.0/+8', /bad prefix length/],
  ] as const) {
    assert.throws(() => parseCidrText(text), (error: unknown) => error instanceof OsValueError && message.test(error.message), text);
  }
  assert.throws(() => formatCidr({ family: 6, address: new Uint8Array(4), bits: 32 }), OsValueError);
});
