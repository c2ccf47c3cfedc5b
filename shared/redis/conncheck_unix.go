//go:build unix

package redis

import (
	"errors"
	"io"
	"net"
	"syscall"
)

var errUnexpectedRead = errors.New("redis: an idle connection holds unread data")

// connCheck says, without a round trip, whether an idle connection is still
// open: a non-blocking read on its socket finds nothing to read (open), the end
// of the stream (the server closed it, as a restart or failover does), or data
// no command asked for (unusable too).
func connCheck(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var sysErr error
	err = raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		n, err := syscall.Read(int(fd), buf[:])
		switch {
		case n == 0 && err == nil:
			sysErr = io.EOF
		case n > 0:
			sysErr = errUnexpectedRead
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
			sysErr = nil
		default:
			sysErr = err
		}
		return true // never wait for data
	})
	if err != nil {
		return err
	}
	return sysErr
}
