/**
 * Where wirelane-engine serves its UAPI and which name file it owns, per platform, and the
 * Windows UAPI pipe: its name, its security descriptor, and that serving it fails closed when
 * the descriptor cannot be applied. macOS and Windows cannot run here; what these tests check is
 * the decisions and calls their code makes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineFiles } from '../../engine/cli/engine-files.js';
import { silentLogger } from '../../engine/logger.js';
import { writeTunNameFile } from '../../engine/tun/tun-darwin.js';
import type { TunDevice } from '../../engine/tun/tun.js';
import { serveUapi, uapiSocketPath, UAPI_PIPE_SDDL } from '../../engine/uapi/server.js';
import type { UapiDeviceSnapshot, UapiTarget } from '../../engine/uapi/types.js';

test('macOS: asked for "utun" with WG_TUN_NAME_FILE, the engine serves utunN.sock and writes the name file', () => {
  const env = { WG_TUN_NAME_FILE: '/var/run/wireguard/wg0.name' };
  assert.deepEqual(engineFiles('utun', 'utun7', env, 'darwin'), {
    socketPath: '/var/run/wireguard/utun7.sock',
    socketIsFile: true,
    nameFile: '/var/run/wireguard/wg0.name',
  });
});

test('macOS: no name file for an explicit utunN or without WG_TUN_NAME_FILE, as wireguard-go', () => {
  assert.equal(engineFiles('utun3', 'utun3', { WG_TUN_NAME_FILE: '/var/run/wireguard/wg0.name' }, 'darwin').nameFile, null);
  assert.equal(engineFiles('utun', 'utun4', {}, 'darwin').nameFile, null);
  assert.equal(engineFiles('utun', 'utun4', { WG_TUN_NAME_FILE: '' }, 'darwin').nameFile, null);
  assert.equal(engineFiles('utun', 'utun4', {}, 'darwin').socketPath, '/var/run/wireguard/utun4.sock');
});

test('Linux: the socket is named after the interface and WG_TUN_NAME_FILE is ignored', () => {
  assert.deepEqual(engineFiles('wg0', 'wg0', { WG_TUN_NAME_FILE: '/tmp/x.name' }, 'linux'), {
    socketPath: '/var/run/wireguard/wg0.sock',
    socketIsFile: true,
    nameFile: null,
  });
});

test("Windows: the UAPI is wireguard-go's named pipe under ProtectedPrefix\\Administrators", () => {
  assert.equal(uapiSocketPath('wg0', undefined, 'win32'), '\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\wg0');
  assert.deepEqual(engineFiles('wg0', 'wg0', { WG_TUN_NAME_FILE: 'C:\\x.name' }, 'win32'), {
    socketPath: '\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\wg0',
    socketIsFile: false,
    nameFile: null,
  });
  assert.equal(uapiSocketPath('wg0', '/tmp/sockets', 'linux'), '/tmp/sockets/wg0.sock');
});

test("the UAPI pipe's descriptor: SYSTEM and Administrators only, protected, high integrity (wireguard-go's)", () => {
  assert.equal(UAPI_PIPE_SDDL, 'O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)');
  const aces = [...UAPI_PIPE_SDDL.matchAll(/\(A;;([A-Z]+);;;([A-Z]+)\)/g)].map((m) => `${m[2]}:${m[1]}`);
  assert.deepEqual(aces, ['SY:GA', 'BA:GA'], 'nobody but SYSTEM and Administrators is allowed anything');
});

test('writeTunNameFile writes the real utun name for wg-quick and its remover deletes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-namefile-'));
  try {
    const path = join(dir, 'wg0.name');
    const remove = writeTunNameFile({ name: 'utun7' } as TunDevice, { WG_TUN_NAME_FILE: path });
    assert.equal(readFileSync(path, 'utf8'), 'utun7\n');
    remove();
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const emptyDevice: UapiTarget = {
  snapshot: (): UapiDeviceSnapshot => ({ privateKey: null, listenPort: 51820, fwmark: 0, peers: [] }),
  applySet: () => null,
};

/**
 * On Linux, node:net treats a "\\.\pipe\..." name as a Unix socket path relative to the working
 * directory, so the pipe branch of serveUapi runs here for real, in a scratch directory.
 */
async function inScratchDirectory(run: (pipeName: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-pipe-'));
  const previous = process.cwd();
  process.chdir(dir);
  try {
    await run(uapiSocketPath('wg0', undefined, 'win32'));
  } finally {
    process.chdir(previous);
    rmSync(dir, { recursive: true, force: true });
  }
}

function ask(path: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.endsWith('\n\n')) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', reject);
    socket.write(request);
  });
}

test('a UAPI pipe gets its descriptor right after listen, then answers get=1', async () => {
  await inScratchDirectory(async (pipeName) => {
    const calls: Array<[string, string]> = [];
    const server = await serveUapi(pipeName, emptyDevice, silentLogger, {
      setPipeSecurity: (name, sddl) => {
        calls.push([name, sddl]);
        return sddl;
      },
    });
    try {
      assert.deepEqual(calls, [[pipeName, UAPI_PIPE_SDDL]]);
      assert.match(await ask(pipeName, 'get=1\n\n'), /^listen_port=51820\nerrno=0\n\n$/);
    } finally {
      await server.close();
    }
  });
});

test('a UAPI pipe whose descriptor cannot be set is not served (fails closed)', async () => {
  await inScratchDirectory(async (pipeName) => {
    await assert.rejects(
      serveUapi(pipeName, emptyDevice, silentLogger, {
        setPipeSecurity: () => {
          throw new Error('Access is denied. (Windows error 5)');
        },
      }),
      /cannot restrict the UAPI pipe .* to SYSTEM and Administrators: Access is denied/,
    );
    await assert.rejects(ask(pipeName, 'get=1\n\n'), 'nobody can reach the device through the pipe');
  });
});
