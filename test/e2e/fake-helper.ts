/**
 * A small stand-in for the helper's socket, speaking the control protocol over a real Unix
 * socket: for the helper client's unit tests (reconnect, fan-out) and the accessibility e2e,
 * which checks screens and keyboard use and needs no tunnel to carry traffic. It validates
 * requests with the same protocol schemas; tunnels live in memory; `invalid_config` is returned
 * for text without an [Interface] line. The app e2e (app.e2e.test.ts) runs against the real
 * helper instead.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { requestSchema, type HelperEvent, type Request, type TunnelSummary } from '../../engine/helper/protocol.js';

export class FakeHelper {
  readonly connections = new Set<Socket>();
  readonly received: Request[] = [];
  tunnels: TunnelSummary[] = [];
  settings: { logLevel: 'debug' | 'info' | 'warn' | 'error' } = { logLevel: 'info' };
  private server: Server | null = null;

  constructor(readonly socketPath: string) {}

  async listen(): Promise<void> {
    const server = createServer((socket) => this.onConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
  }

  /** Stops listening and drops every connection, as a crashed or stopped helper would. */
  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Sends an event to every subscribed connection. */
  broadcast(event: HelperEvent): void {
    for (const socket of this.connections) if ((socket as Socket & { subscribed?: boolean }).subscribed) socket.write(JSON.stringify(event) + '\n');
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        this.onLine(socket, line);
      }
    });
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => this.connections.delete(socket));
  }

  private onLine(socket: Socket & { subscribed?: boolean }, line: string): void {
    const parsed = requestSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      socket.write(JSON.stringify({ id: null, ok: false, error: { code: 'bad_request', message: 'bad request' } }) + '\n');
      return;
    }
    const request = parsed.data;
    this.received.push(request);
    const reply = (result: unknown): void => void socket.write(JSON.stringify({ id: request.id, ok: true, result }) + '\n');
    const fail = (code: string, message: string, problems?: unknown): void =>
      void socket.write(JSON.stringify({ id: request.id, ok: false, error: { code, message, ...(problems ? { problems } : {}) } }) + '\n');
    switch (request.type) {
      case 'version':
        return reply({ helperVersion: 'fake-1', protocolVersion: 1, platform: 'linux' });
      case 'subscribe':
        socket.subscribed = true;
        return reply({});
      case 'list':
        return reply({ tunnels: this.tunnels });
      case 'import': {
        if (!/^\[Interface\]/m.test(request.confText)) return fail('invalid_config', 'the configuration has problems', [{ line: 1, message: 'expected [Interface] or [Peer]' }]);
        if (this.tunnels.some((t) => t.name === request.name)) return fail('already_exists', `a tunnel named ${request.name} exists already`);
        this.tunnels.push({
          name: request.name,
          publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
          addresses: ['10.0.0.2/32'],
          endpoints: ['192.0.2.1:51820'],
          hasScripts: false,
          fullTunnel: false,
          killSwitch: false,
          status: { name: request.name, status: { state: 'disconnected' }, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null },
        });
        this.broadcast({ event: 'tunnels', tunnels: this.tunnels });
        return reply({ name: request.name, hasScripts: false, fullTunnel: false });
      }
      case 'get': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        return reply({ tunnel, confText: '[Interface]\nPrivateKey = (hidden)\n\n[Peer]\nPublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\nAllowedIPs = 10.0.0.0/24\nEndpoint = 192.0.2.1:51820\n' });
      }
      case 'connect':
      case 'disconnect': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        tunnel.status = {
          ...tunnel.status,
          status: request.type === 'connect' ? { state: 'connected', since: Date.now() } : { state: 'disconnected' },
          latestHandshake: request.type === 'connect' ? Date.now() : tunnel.status.latestHandshake,
        };
        this.broadcast({ event: 'status', tunnels: this.tunnels.map((t) => t.status) });
        return reply({ status: tunnel.status });
      }
      case 'logs':
        return reply({ name: request.name, entries: [{ time: Date.now(), level: 'info', message: `${request.name} is a tunnel of the fake helper` }] });
      case 'helperLog':
        return reply({ entries: [{ time: Date.now(), level: 'info', message: 'fake helper listening', name: null }] });
      case 'show': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        const on = tunnel.status.status.state !== 'disconnected' && tunnel.status.status.state !== 'failed';
        return reply({
          status: tunnel.status,
          device: on
            ? {
                interfaceName: tunnel.name,
                publicKey: tunnel.publicKey,
                listenPort: 51820,
                fwmark: 0,
                peers: [{ publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=', hasPresharedKey: false, endpoint: '192.0.2.1:51820', allowedIps: ['10.0.0.0/24'], latestHandshake: tunnel.status.latestHandshake, rxBytes: 1234, txBytes: 5678, persistentKeepalive: 0 }],
              }
            : null,
        });
      }
      case 'validate':
        return reply(
          /^\[Interface\]/m.test(request.confText)
            ? { problems: [], hasScripts: false, fullTunnel: false, warnings: [] }
            : { problems: [{ line: 1, message: 'expected [Interface] or [Peer]' }], hasScripts: false, fullTunnel: false, warnings: [] },
        );
      case 'update': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        return reply({ name: request.name, hasScripts: false, fullTunnel: false, warnings: [] });
      }
      case 'rename': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        if (this.tunnels.some((t) => t.name === request.newName)) return fail('already_exists', `a tunnel named ${request.newName} exists already`);
        tunnel.name = request.newName;
        tunnel.status = { ...tunnel.status, name: request.newName };
        this.broadcast({ event: 'tunnels', tunnels: this.tunnels });
        return reply({ name: request.newName });
      }
      case 'delete':
        this.tunnels = this.tunnels.filter((t) => t.name !== request.name);
        this.broadcast({ event: 'tunnels', tunnels: this.tunnels });
        return reply({});
      case 'setKillSwitch': {
        const tunnel = this.tunnels.find((t) => t.name === request.name);
        if (!tunnel) return fail('not_found', `no tunnel named ${request.name}`);
        tunnel.killSwitch = request.enabled;
        this.broadcast({ event: 'tunnels', tunnels: this.tunnels });
        return reply({ tunnel });
      }
      case 'getSettings':
        return reply({ settings: this.settings });
      case 'setSettings':
        if (request.logLevel) this.settings = { logLevel: request.logLevel };
        return reply({ settings: this.settings });
      case 'generateKeypair':
        return reply({ privateKey: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=', publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=' });
      default:
        return fail('internal', `the fake helper does not do ${request.type}`);
    }
  }
}
