// Package crash holds the crash loop of batches: tests that kill the local
// server (kill -9) at many moments of synchronous and Async ModifyUserPasswords
// batches, on the embedded store, on slapd and on Samba AD, restart it, and check every
// user's reported outcome against what really binds, and that every changed
// password has an audit line. The server is this package's test binary run
// again as a child process (TestMain), serving what functions/local serves.
package crash
