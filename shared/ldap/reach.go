package ldap

import (
	"context"
	"fmt"
)

// Ping connects and binds as the service account, so that a server can tell at
// start whether the directory can be reached. Returns EUNAVAILABLE when it cannot
// be reached, EINTERNAL when it refuses the service account or its certificate.
func (d *Directory) Ping(ctx context.Context) error {
	return domainError("ldap.Ping", lookup, d.withService(ctx, true, func(conn) error { return nil }), ppNone)
}

// dialNoted is dial, telling Warn of the first failure to connect after the
// directory was reachable (or since the start), naming the address; the next
// success makes the following failure heard again. The functions on the clouds
// do not dial at start, so this is where an unreachable directory first shows.
func (d *Directory) dialNoted(ctx context.Context) (conn, error) {
	c, err := d.dial(ctx)
	if err != nil {
		if ctx.Err() == nil && d.down.CompareAndSwap(false, true) {
			d.warn(fmt.Sprintf("connect to %s (first failure; later ones are not repeated until it answers)", d.addr), err)
		}
		return nil, err
	}
	d.down.Store(false)
	return c, nil
}
