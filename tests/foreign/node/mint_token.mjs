// Mints a tandem token with npm `jose`, as a Node backend would: prints one JWT.
//
// Usage: node mint_token.mjs ALG KEY USER [KID]
//   ALG  HS256 (KEY is the shared secret, as `tandem serve --token-secret`), or RS256, ES256,
//        EdDSA (KEY is the path of a PEM PKCS#8 private key; the server has the public half).
// The token carries `rooms` (list shape) and `info`, which the server must accept.
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';

const [alg, key, user, kid] = process.argv.slice(2);
const secret =
  alg === 'HS256' ? new TextEncoder().encode(key) : await importPKCS8(readFileSync(key, 'utf8'), alg);
const header = kid ? { alg, kid } : { alg };
const token = await new SignJWT({ rooms: ['mixed', 'docs/*'], info: { name: user, via: 'jose' } })
  .setProtectedHeader(header)
  .setSubject(user)
  .setIssuedAt()
  .setNotBefore('0s')
  .setExpirationTime('10m')
  .sign(secret);
console.log(token);
