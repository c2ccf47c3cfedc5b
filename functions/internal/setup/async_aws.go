//go:build !noaws

package setup

import (
	"context"

	"chpass/shared/gateway"
	"chpass/shared/lambdainvoke"
)

func init() {
	cloudDispatchers[gateway.Lambda] = func() (func(ctx context.Context, id string) error, error) {
		i, err := lambdainvoke.FromEnv(lambdainvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	}
}
