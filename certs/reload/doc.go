// Package reload keeps certificates, keys and CRLs current under a running
// gateway: a Watcher notices when watched files change and asks for a whole
// new state to be built, and a CRLFetcher keeps the last good copy of each
// CRL published at a URL. Neither decides what is trusted; they only say
// when to rebuild, and the builder (gateway/identity) refuses what is wrong.
package reload
