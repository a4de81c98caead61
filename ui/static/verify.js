// verify.js: the proof panel check (WebCrypto); H7's file replaces this placeholder.
