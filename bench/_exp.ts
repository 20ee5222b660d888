import { startServices } from '../dev/supervisor.ts';
import { guacHandshake, encodeInstruction } from '../dev/guac-probe.ts';
import { SessionFileStreams } from '../sessions/files/streams.ts';
const sup = await startServices({ stateDir: '/tmp/h-files-exp/state', services: ['guacd', 'sshd'], userPrefix: 'airlock-hfx' });
const { sshd, guacd } = sup.services;
const WINDOW = Number(process.env['W'] ?? '16');
try {
  const h = await guacHandshake({ host: guacd!.host, port: guacd!.port, protocol: 'ssh', params: { hostname: sshd!.host, port: String(sshd!.port), username: sshd!.account.username, password: sshd!.account.password, 'enable-sftp': 'true' }, width: 800, height: 600, dpi: 96, timeoutMs: 10000 });
  const streams = new SessionFileStreams(undefined);
  streams.attach({ sendToGuacd: (d) => h.socket.write(d) });
  let synced = false;
  const seen: string[] = [];
  const handle = (i: string[]) => {
    const data = encodeInstruction(i[0] ?? '', ...i.slice(1));
    if (i[0] === 'sync') { h.socket.write(encodeInstruction('sync', i[1] ?? '')); synced = true; }
    if (streams.fromGuacd(data)) return;
    if (!['sync','img','blob','end','cursor','rect','cfill','copy','size','png','jpeg','move','shade','dispose','nop','transfer','cfill'].includes(i[0] ?? '')) seen.push(i.join(',').slice(0, 100));
  };
  h.pending.forEach(handle);
  h.socket.setEncoding('utf8');
  h.socket.on('data', (d: string) => h.parser.push(d).forEach(handle));
  h.socket.resume();
  while (!synced) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  console.log('before', seen);
  const data = Buffer.alloc(Number(process.env['SIZE'] ?? 300000), 7);
  async function* src() { yield data; }
  const t = Date.now();
  await streams.deliver('exp.txt', 'text/plain', src()).then(() => console.log('delivered in', Date.now() - t), (e) => console.log('failed', e));
  console.log('after', seen);
} finally { await sup.stop(); }
