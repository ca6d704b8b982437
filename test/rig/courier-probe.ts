import { connect } from 'node:net';

/**
 * A plaintext IMAP session, one command at a time (imaplogin execs imapd after LOGIN, so
 * pipelined input could be lost): resolves with every response line per command.
 */
export function imapDialog(port: number, commands: string[]): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    const replies: string[][] = [];
    let buffered = '';
    let current: string[] = [];
    let sent = -1; // -1: waiting for the greeting
    const next = () => {
      sent += 1;
      if (sent < commands.length) sock.write(`t${sent} ${commands[sent]}\r\n`);
      else {
        sock.end();
        resolve(replies);
      }
    };
    sock.on('data', (d) => {
      buffered += d.toString('latin1');
      for (let nl = buffered.indexOf('\r\n'); nl >= 0; nl = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (sent < 0) {
          next();
          continue;
        }
        current.push(line);
        if (line.startsWith(`t${sent} `)) {
          replies.push(current);
          current = [];
          next();
        }
      }
    });
    sock.once('error', reject);
    sock.once('close', () => {
      if (sent < commands.length) reject(new Error(`IMAP connection closed after ${sent} commands`));
    });
  });
}

/** The personal namespace as the server announces it after login. */
export async function courierNamespace(
  port: number,
  user: string,
  password: string,
): Promise<{ prefix: string; delimiter: string }> {
  const [login, ns] = await imapDialog(port, [`LOGIN ${user} ${password}`, 'NAMESPACE', 'LOGOUT']);
  if (!login?.at(-1)?.startsWith('t0 OK')) throw new Error(`Courier probe login failed: ${login?.at(-1)}`);
  const line = ns?.find((l) => l.startsWith('* NAMESPACE '));
  const m = line?.match(/^\* NAMESPACE \(\("([^"]*)" "([^"]*)"\)/);
  if (!m) throw new Error(`Courier sent no personal NAMESPACE: ${line}`);
  return { prefix: m[1]!, delimiter: m[2]! };
}
