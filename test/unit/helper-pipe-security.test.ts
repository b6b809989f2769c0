/**
 * The Windows rule for the helper's control pipe (docs/security.md): SYSTEM and Administrators,
 * plus the local group `wirelane` when it exists. Windows cannot run here; these tests check the
 * descriptor the helper asks for and what it does when Windows refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlPipeSddl, localGroupName, restrictPipe, type PipeSecurityApi } from '../../engine/helper/authorisation.js';
import type { Logger } from '../../engine/logger.js';

const PIPE = '\\\\.\\pipe\\wirelane-helper';
const GROUP_SID = 'S-1-5-21-3623811015-3361044348-30300820-1013';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

test('without the group, only SYSTEM and Administrators get access, and nothing is inherited', () => {
  assert.equal(controlPipeSddl(null), 'D:P(A;;GA;;;SY)(A;;GA;;;BA)');
});

test('with the group, its members may read and write (what a Node client opens the pipe with), nothing more', () => {
  assert.equal(controlPipeSddl(GROUP_SID), `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;${GROUP_SID})`);
  assert.doesNotMatch(controlPipeSddl(GROUP_SID), /;;;(WD|IU|BU|AU)\)/, 'not Everyone, Interactive, Users or Authenticated Users');
});

test('a SID that would smuggle another ACE into the descriptor is refused', () => {
  assert.throws(() => controlPipeSddl('S-1-1-0)(A;;GA;;;WD'), /not a SID/);
  assert.throws(() => controlPipeSddl('WD'), /not a SID/);
});

test("the group is looked up as the computer's local group, never a domain account of that name", () => {
  assert.equal(localGroupName('wirelane', { COMPUTERNAME: 'DESKTOP-7' }), 'DESKTOP-7\\wirelane');
  assert.equal(localGroupName('wirelane', {}), 'wirelane');
});

function fakeApi(groupSid: string | null, fail?: Error): PipeSecurityApi & { lookups: string[]; applied: Array<[string, string]> } {
  const lookups: string[] = [];
  const applied: Array<[string, string]> = [];
  return {
    lookups,
    applied,
    lookupGroupSid(name) {
      lookups.push(name);
      return groupSid;
    },
    pipeSetSecurity(pipeName, sddl) {
      if (fail) throw fail;
      applied.push([pipeName, sddl]);
      return `O:SY${sddl}`;
    },
  };
}

test('the helper grants the existing group and reports the descriptor in effect', () => {
  const api = fakeApi(GROUP_SID);
  const logger = recordingLogger();
  const access = restrictPipe(PIPE, logger, api, { COMPUTERNAME: 'PC' });
  assert.deepEqual(api.lookups, ['PC\\wirelane']);
  assert.deepEqual(api.applied, [[PIPE, `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;${GROUP_SID})`]]);
  assert.equal(access.sddl, `O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;${GROUP_SID})`);
  assert.match(logger.lines.join('\n'), /group 'wirelane' \(S-1-5-21-.*\) may connect/);
});

test('without the group the helper says how to allow users', () => {
  const api = fakeApi(null);
  const logger = recordingLogger();
  restrictPipe(PIPE, logger, api, {});
  assert.deepEqual(api.applied, [[PIPE, 'D:P(A;;GA;;;SY)(A;;GA;;;BA)']]);
  assert.match(logger.lines.join('\n'), /only SYSTEM and Administrators may connect \(create local group 'wirelane'/);
});

test('when Windows refuses, the helper keeps serving with the narrower default and logs why', () => {
  const logger = recordingLogger();
  const access = restrictPipe(PIPE, logger, fakeApi(GROUP_SID, new Error('Access is denied. (Windows error 5)')), {});
  assert.equal(access.sddl, null);
  assert.match(logger.lines.join('\n'), /^error: control pipe .*cannot set its security \(Access is denied.*only administrators can connect/m);
  const noAddon = recordingLogger();
  assert.equal(restrictPipe(PIPE, noAddon, null, {}).sddl, null);
  assert.match(noAddon.lines.join('\n'), /^error: .*only administrators can connect/m);
});
