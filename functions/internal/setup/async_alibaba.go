//go:build !noalibaba

package setup

import (
	"context"

	"chpass/shared/fcinvoke"
	"chpass/shared/gateway"
)

func init() {
	cloudDispatchers[gateway.FC] = func() (func(ctx context.Context, id string) error, error) {
		i, err := fcinvoke.FromEnv(fcinvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	}
}
