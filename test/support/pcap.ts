/** Reading what tcpdump -w captured on a veth, for the interop tests that check the underlay. */
import { readFileSync } from 'node:fs';

export interface CapturedMessage {
  /** Seconds since the epoch, with microseconds. */
  time: number;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** The UDP payloads of an Ethernet/IPv4 pcap file (what tcpdump -w writes for a veth). */
export function readPcap(path: string): CapturedMessage[] {
  const file = readFileSync(path);
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const nanos = (little ? magic : file.readUInt32BE(0)) === 0xa1b23c4d;
  const u32 = (at: number) => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`capture link type ${linkType}, expected Ethernet`);
  const out: CapturedMessage[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const time = u32(at) + u32(at + 4) / (nanos ? 1e9 : 1e6);
    const captured = u32(at + 8);
    const frame = file.subarray(at + 16, at + 16 + captured);
    at += 16 + captured;
    if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = 14;
    const headerLength = (frame[ip]! & 0x0f) * 4;
    if (frame[ip + 9] !== 17) continue;
    const udp = ip + headerLength;
    out.push({ time, srcPort: frame.readUInt16BE(udp), dstPort: frame.readUInt16BE(udp + 2), payload: frame.subarray(udp + 8, udp + frame.readUInt16BE(udp + 4)) });
  }
  return out;
}
