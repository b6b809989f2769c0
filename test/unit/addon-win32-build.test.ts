/**
 * The Windows half of the wirelane_io addon cannot run here, so these tests check what can be
 * checked on Linux:
 *
 * - the UDP functions JavaScript sees are the same on Windows as on Linux/macOS (same names,
 *   same argument counts), so engine/conn/udp-bind.ts works unchanged on both;
 * - with the mingw-w64 cross compiler (Debian's gcc-mingw-w64-x86-64), every source compiles for
 *   Windows against Node's headers without a warning in the Windows files, and links into a PE
 *   DLL whose only unresolved N-API/libuv symbols are imported from node.exe, as a real addon's
 *   are. Skipped, with the reason, where the cross compiler is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';

const SOURCE_DIR = repoPath('engine', 'native', 'src');
const SOURCES = ['addon.c', 'js_glue.c', 'tun_posix.c', 'tun_linux.c', 'tun_darwin.c', 'tun_win32.c', 'udp_posix.c', 'udp_win32.c', 'pipe_win32.c', 'service_win32.c', 'handshake_filter.c'];
const WINDOWS_FILES = ['tun_win32.c', 'udp_win32.c', 'pipe_win32.c', 'service_win32.c'];
const CC = 'x86_64-w64-mingw32-gcc';

/** Exported JS name -> number of arguments its C function requires (from io_args). */
function exportedFunctions(file: string): Map<string, number> {
  const text = readFileSync(join(SOURCE_DIR, file), 'utf8');
  const functions = new Map<string, number>();
  for (const match of text.matchAll(/io_export\(env, exports, "(\w+)", (\w+)\)/g)) {
    const [, jsName, cName] = match;
    const body = text.slice(text.indexOf(`static napi_value ${cName!}(`));
    const end = body.indexOf('\n}\n');
    const args = /io_args\(env, info, (\d+)/.exec(body.slice(0, end));
    functions.set(jsName!, args ? Number(args[1]) : -1);
  }
  return functions;
}

test('the Windows UDP part exports the same functions with the same argument counts as the POSIX one', () => {
  const posix = exportedFunctions('udp_posix.c');
  const win32 = exportedFunctions('udp_win32.c');
  assert.ok(posix.size >= 9, `expected the UDP functions in udp_posix.c, found ${[...posix.keys()].join(', ')}`);
  assert.deepEqual(new Map([...win32].sort()), new Map([...posix].sort()));
});

test('binding.gyp compiles the Windows UDP part and links Winsock on Windows', () => {
  const gyp = readFileSync(repoPath('engine', 'native', 'binding.gyp'), 'utf8');
  assert.match(gyp, /"src\/udp_win32\.c"/);
  assert.match(gyp, /"OS=='win'"[\s\S]*"ws2_32\.lib"/);
});

function nodeIncludeDir(): string | null {
  const candidates = [
    '/usr/include/node',
    join(process.env['HOME'] ?? '', '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h'))) ?? null;
}

const haveCrossCompiler = spawnSync(CC, ['--version']).status === 0;
const includeDir = nodeIncludeDir();
const skip = !haveCrossCompiler
  ? `${CC} is not installed (apt-get install gcc-mingw-w64-x86-64)`
  : includeDir === null
    ? "Node's headers (node_api.h, uv.h) are not installed"
    : false;

test('the addon compiles and links for Windows x64 with mingw-w64', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'wirelane-win32-build-'));
  try {
    const objects: string[] = [];
    for (const source of SOURCES) {
      const object = join(work, source.replace(/\.c$/, '.o'));
      const result = spawnSync(CC, [
        '-c', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
        `-I${includeDir!}`, '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=wirelane_io',
        '-DWIN32_LEAN_AND_MEAN', '-D_WIN32_WINNT=0x0A00', join(SOURCE_DIR, source), '-o', object,
      ], { encoding: 'utf8' });
      assert.equal(result.status, 0, `${source} does not compile for Windows:\n${result.stderr}`);
      if (WINDOWS_FILES.includes(source)) assert.equal(result.stderr, '', `${source} has warnings:\n${result.stderr}`);
      objects.push(object);
    }

    // What the addon takes from Node: N-API and libuv, which a Windows addon imports from node.exe.
    const undefinedSymbols = spawnSync('x86_64-w64-mingw32-nm', ['-u', ...objects], { encoding: 'utf8' }).stdout;
    const fromNode = [...new Set([...undefinedSymbols.matchAll(/\b((?:napi|uv)_\w+)/g)].map((m) => m[1]!))].sort();
    assert.ok(fromNode.includes('uv_poll_init_socket'), 'the Windows UDP part watches sockets with uv_poll_init_socket');
    writeFileSync(join(work, 'node.def'), `LIBRARY node.exe\nEXPORTS\n${fromNode.join('\n')}\n`);
    const importLib = spawnSync('x86_64-w64-mingw32-dlltool', ['-d', join(work, 'node.def'), '-l', join(work, 'libnode.a')], { encoding: 'utf8' });
    assert.equal(importLib.status, 0, importLib.stderr);

    const dll = join(work, 'wirelane_io.node');
    const link = spawnSync(CC, ['-shared', '-o', dll, ...objects, `-L${work}`, '-lnode', '-lws2_32', '-liphlpapi', '-ladvapi32'], { encoding: 'utf8' });
    assert.equal(link.status, 0, `the addon does not link for Windows:\n${link.stderr}`);

    const headers = spawnSync('x86_64-w64-mingw32-objdump', ['-p', dll], { encoding: 'utf8' }).stdout;
    assert.match(headers, /napi_register_module_v1/, 'Node finds the module by this export');
    for (const dllName of ['node.exe', 'WS2_32.dll', 'IPHLPAPI.DLL', 'ADVAPI32.dll']) assert.match(headers, new RegExp(`DLL Name: ${dllName}`, 'i'));
    for (const call of ['WSASocketW', 'recvfrom', 'sendto', 'WSAIoctl', 'CreateNamedPipeW', 'SetSecurityInfo', 'ConvertStringSecurityDescriptorToSecurityDescriptorW', 'StartServiceCtrlDispatcherW', 'RegisterServiceCtrlHandlerExW', 'SetServiceStatus']) assert.match(headers, new RegExp(`\\b${call}\\b`));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
