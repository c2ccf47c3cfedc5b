//go:build !noaws

package main

import (
	"chpass/functions/internal/setup/ehpc"
	"chpass/shared/gateway"
	"chpass/shared/lambdainvoke"
)

// init hands setup the Lambda self-invoker of Async batches, in this function's
// binary only (the other functions do not link its client).
func init() {
	ehpc.RegisterAsyncInvoker(gateway.Lambda, func() (ehpc.DispatchFunc, error) {
		i, err := lambdainvoke.FromEnv(lambdainvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	})
}
