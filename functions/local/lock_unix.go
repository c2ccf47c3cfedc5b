//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// lockedByOther reports whether another process holds the lock bbolt takes on
// its file (flock), by trying to take it without waiting.
func lockedByOther(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
