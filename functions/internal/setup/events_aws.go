//go:build !noaws

package setup

import (
	"chpass/shared/config"
	"chpass/shared/eventbridge"
	"chpass/shared/password"
)

func init() {
	eventBridgePublisher = func(c config.EventBridgeEvents) (password.Publisher, error) {
		return eventbridge.New(eventbridge.Options{Bus: c.Bus, Region: c.Region})
	}
}
