//go:build race

package crash

// raceEnabled says the tests run with -race, so that the server is built with it too.
const raceEnabled = true
