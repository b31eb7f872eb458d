// The one door to the X.509 library (@peculiar/x509 over Node's WebCrypto). It needs a Reflect
// metadata polyfill loaded before it (its DI container, tsyringe, checks at import time), and a
// crypto provider set once. Every other pki file imports the library from here, never directly.

import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { webcrypto } from 'node:crypto'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

export { x509 }
export const subtle = webcrypto.subtle
