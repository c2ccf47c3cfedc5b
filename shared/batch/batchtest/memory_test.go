package batchtest_test

import (
	"testing"

	"chpass/shared/batch"
	"chpass/shared/batch/batchtest"
)

func TestMemory(t *testing.T) {
	batchtest.Run(t, func(*testing.T) batch.TaskStore { return &batchtest.Memory{} })
}
