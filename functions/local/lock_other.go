//go:build !unix

package main

import "os"

// lockedByOther cannot tell here; the store's own open then says it is held.
func lockedByOther(*os.File) (bool, error) { return false, nil }
