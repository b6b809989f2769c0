/**
 * Known answers: the Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector published with cacophony
 * (vectors/cacophony.txt), run through the same handshake steps WireGuard's messages use, with
 * its prologue in place of WireGuard's identifier. Every message byte must match.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SymmetricState,
  readInitiationPayloadCore,
  readInitiationStaticCore,
  readResponseCore,
  writeInitiationCore,
  writeResponseCore,
} from '../../engine/noise/handshake.js';
import { backends, hex, toHex } from './noise-support.js';

const VECTOR = {
  name: 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s',
  prologue: '4a6f686e2047616c74',
  psk: '54686973206973206d7920417573747269616e20706572737065637469766521',
  initStatic: 'e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1',
  initEphemeral: '893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a',
  initRemoteStatic: '31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62',
  respStatic: '4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893',
  respEphemeral: 'bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b',
  messages: [
    {
      payload: '4c756477696720766f6e204d69736573',
      ciphertext:
        'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad57527207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441eba616548e832985464cf17e51ee93109008399a21f7e13f',
    },
    {
      payload: '4d757272617920526f746862617264',
      ciphertext: '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572dab0322217755c0632f365717edbf34d33e87a',
    },
    { payload: '462e20412e20486179656b', ciphertext: '8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7' },
    { payload: '4361726c204d656e676572', ciphertext: '07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef' },
    { payload: '4a65616e2d426170746973746520536179', ciphertext: '6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d' },
    { payload: '457567656e2042f6686d20766f6e2042617765726b', ciphertext: 'dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292' },
  ],
};

function nonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), true);
  return n;
}

for (const { name, crypto, skip } of backends()) {
  test(`${VECTOR.name} known answers (${name})`, { skip }, () => {
    const c = crypto!;
    const protocol = new TextEncoder().encode(VECTOR.name);
    const prologue = hex(VECTOR.prologue);
    const psk = hex(VECTOR.psk);
    const initStatic = hex(VECTOR.initStatic);
    const respStatic = hex(VECTOR.respStatic);
    const initStaticPublic = c.publicKey(initStatic);
    const respStaticPublic = c.publicKey(respStatic);
    assert.equal(toHex(respStaticPublic), VECTOR.initRemoteStatic);
    const [m0, m1, ...transport] = VECTOR.messages;

    // Message 1, initiator: <- s ... -> e, es, s, ss, {payload}
    const initiator = SymmetricState.initialize(protocol, prologue);
    initiator.mixHash(respStaticPublic);
    const staticStatic = c.sharedSecret(initStatic, respStaticPublic)!;
    const written = writeInitiationCore(c, initiator, hex(VECTOR.initEphemeral), initStaticPublic, respStaticPublic, staticStatic, hex(m0!.payload))!;
    const message1 = Buffer.concat([written.ephemeral, written.encryptedStatic, written.encryptedPayload]);
    assert.equal(message1.toString('hex'), m0!.ciphertext);

    // Message 1, responder.
    const responder = SymmetricState.initialize(protocol, prologue);
    responder.mixHash(respStaticPublic);
    const remoteStatic = readInitiationStaticCore(c, responder, respStatic, message1.subarray(0, 32), message1.subarray(32, 80))!;
    assert.equal(toHex(remoteStatic), toHex(initStaticPublic));
    const payload1 = readInitiationPayloadCore(c, responder, c.sharedSecret(respStatic, remoteStatic)!, message1.subarray(80))!;
    assert.equal(toHex(payload1), m0!.payload);
    assert.equal(toHex(responder.hash), toHex(initiator.hash));

    // Message 2, responder: <- e, ee, se, psk, {payload}
    const response = writeResponseCore(c, responder, hex(VECTOR.respEphemeral), message1.subarray(0, 32), remoteStatic, psk, hex(m1!.payload))!;
    const message2 = Buffer.concat([response.ephemeral, response.encryptedPayload]);
    assert.equal(message2.toString('hex'), m1!.ciphertext);

    // Message 2, initiator.
    const payload2 = readResponseCore(c, initiator, hex(VECTOR.initEphemeral), initStatic, message2.subarray(0, 32), psk, message2.subarray(32))!;
    assert.equal(toHex(payload2), m1!.payload);
    assert.equal(toHex(initiator.hash), toHex(responder.hash));

    // Transport: Split() gives the initiator's sending key first; nonces count per direction.
    const [initiatorSend, initiatorReceive] = initiator.split();
    const [responderReceive, responderSend] = responder.split();
    assert.equal(toHex(initiatorSend), toHex(responderReceive));
    assert.equal(toHex(initiatorReceive), toHex(responderSend));
    transport.forEach((message, i) => {
      const key = i % 2 === 0 ? initiatorSend : responderSend;
      const plaintext = hex(message.payload);
      const sealed = new Uint8Array(plaintext.length + 16);
      c.seal(sealed, key, nonce(i >> 1), plaintext, new Uint8Array(0));
      assert.equal(toHex(sealed), message.ciphertext, `transport message ${i + 3}`);
    });
  });

  test(`${VECTOR.name}: a wrong psk on one side fails the response (${name})`, { skip }, () => {
    const c = crypto!;
    const protocol = new TextEncoder().encode(VECTOR.name);
    const respStaticPublic = c.publicKey(hex(VECTOR.respStatic));
    const initiator = SymmetricState.initialize(protocol, hex(VECTOR.prologue));
    initiator.mixHash(respStaticPublic);
    const initStatic = hex(VECTOR.initStatic);
    const w = writeInitiationCore(c, initiator, hex(VECTOR.initEphemeral), c.publicKey(initStatic), respStaticPublic, c.sharedSecret(initStatic, respStaticPublic)!, new Uint8Array(0))!;
    const responder = SymmetricState.initialize(protocol, hex(VECTOR.prologue));
    responder.mixHash(respStaticPublic);
    const rs = readInitiationStaticCore(c, responder, hex(VECTOR.respStatic), w.ephemeral, w.encryptedStatic)!;
    readInitiationPayloadCore(c, responder, c.sharedSecret(hex(VECTOR.respStatic), rs)!, w.encryptedPayload);
    const r = writeResponseCore(c, responder, hex(VECTOR.respEphemeral), w.ephemeral, rs, hex(VECTOR.psk), new Uint8Array(0))!;
    const wrongPsk = hex(VECTOR.psk);
    wrongPsk[0]! ^= 1;
    assert.equal(readResponseCore(c, initiator, hex(VECTOR.initEphemeral), initStatic, r.ephemeral, wrongPsk, r.encryptedPayload), null);
  });
}
