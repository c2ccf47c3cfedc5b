//go:build !noalibaba

package main

import (
	"chpass/functions/internal/setup/ehpc"
	"chpass/shared/fcinvoke"
	"chpass/shared/gateway"
)

// init hands setup the Function Compute self-invoker of Async batches, in this function's
// binary only (the other functions do not link its client).
func init() {
	ehpc.RegisterAsyncInvoker(gateway.FC, func() (ehpc.DispatchFunc, error) {
		i, err := fcinvoke.FromEnv(fcinvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	})
}
